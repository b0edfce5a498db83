//! Devices by name, for `--device flex|ndarray|wgpu`. A device not compiled into this build is a
//! clear error naming the cargo feature to build with.

use burn::tensor::Device;

use crate::{BurnError, Result};

/// Device names accepted by [`parse_device`].
pub const DEVICES: &[&str] = &["flex", "ndarray", "wgpu"];

/// The device called `name`.
pub fn parse_device(name: &str) -> Result<Device> {
    let missing = |feature: &str| {
        Err(BurnError::Device(format!(
            "device {name:?} is not compiled into this build; rebuild with `--features {feature}`"
        )))
    };
    match name {
        "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[cfg(not(feature = "flex"))]
            return missing("flex");
        }
        "ndarray" => {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            return Ok(Device::ndarray());
            #[cfg(not(feature = "ndarray"))]
            return missing("ndarray");
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
            #[cfg(not(feature = "wgpu"))]
            return missing("wgpu");
        }
        _ => Err(BurnError::Device(format!(
            "unknown device {name:?}; known devices: {}",
            DEVICES.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_feature_or_the_known_devices() {
        assert!(parse_device("flex").is_ok());
        let err = parse_device("wgpu").unwrap_err().to_string();
        assert!(err.contains("--features wgpu"), "{err}");
        let err = parse_device("tpu").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown device \"tpu\"; known devices: flex, ndarray, wgpu"
        );
    }
}
