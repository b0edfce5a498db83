//! Kubernetes manifests for a cluster file (`byzsgd keygen --kubernetes DIR`).
//!
//! Any node may be Byzantine, so no pod may read another node's private key. A StatefulSet's
//! pods share one pod template, hence one set of volumes: a single StatefulSet of `n` pods would
//! hand every pod every key. So each node is a StatefulSet of its own (`<app>-s3`, one pod
//! `<app>-s3-0`) mounting only its own Secret, all behind one headless Service (`<app>`) that
//! publishes pods before they are ready, so peers find each other while they start. Each pod
//! runs the same command, `byzsgd node --config /etc/byzsgd/cluster.toml --resume
//! --wait-when-done`, and learns its node from `BYZSGD_ID`. Its checkpoints live on a volume of
//! its own, and its grace period leaves time to write one on SIGTERM. A finished node stays
//! rather than exit, since a StatefulSet restarts a container that exits, answering peers that
//! lag behind; delete the StatefulSets once the run is over. The pods meet the "restricted" Pod Security Standard.
//! On an IPv6-only cluster, set `listen = "[::]:7000"` in the ConfigMap's cluster file.
//!
//! What is written:
//!
//! | file | holds | in git (`deploy/kubernetes/`) |
//! | --- | --- | --- |
//! | `service.yaml` | the headless Service | yes |
//! | `config.yaml` | the cluster file as a ConfigMap, `[net]` set for the pods | yes |
//! | `nodes.yaml` | one StatefulSet per node | yes |
//! | `ca.yaml` | the cluster CA's certificate as a ConfigMap | no: made with the keys |
//! | `secrets/<id>.yaml` | one Secret per node: its certificate and private key | never |

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use byzsgd_core::protocol::ClusterConfig;
use byzsgd_net::tls::ClusterKeys;
use byzsgd_net::{id, identity};

/// The port every pod listens on.
pub const PORT: u16 = 7000;
/// Seconds a pod gets between SIGTERM and SIGKILL: enough to write a checkpoint.
pub const GRACE_SECONDS: u32 = 120;

/// What the manifests are made of.
#[derive(Debug, Clone)]
pub struct Manifests {
    /// The name of the Service, and the prefix of every object (`byzsgd`).
    pub app: String,
    /// The container image.
    pub image: String,
    /// The cluster file as the pods read it.
    pub cluster_file: String,
    /// The cluster's shape.
    pub shape: ClusterConfig,
}

/// The app name for cluster `name`: a DNS label (dots become dashes).
pub fn app_name(cluster: &str) -> String {
    cluster.replace('.', "-")
}

/// The cluster file `text` (a cluster file's whole text) with its `[net]` table set for pods of
/// `app`: certificates, outputs, addresses and the listening port.
pub fn pod_cluster_file(text: &str, app: &str) -> Result<String> {
    let placed = super::place::with_net(text, |net| {
        net.certs = "/etc/byzsgd/certs".into();
        net.out = "/var/lib/byzsgd".into();
        net.address = Some(format!("{app}-{{id}}-0.{app}:{PORT}"));
        net.nodes.clear();
        net.listen = Some(format!("0.0.0.0:{PORT}"));
    })?;
    Ok(format!(
        "# The cluster file of the pods (written by byzsgd keygen --kubernetes).\n{placed}"
    ))
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Manifests {
    /// The headless Service.
    pub fn service(&self) -> String {
        let app = &self.app;
        format!(
            "# Every node's stable DNS name: <app>-<id>-0.{app} (written by byzsgd keygen \
             --kubernetes).\n\
             apiVersion: v1\n\
             kind: Service\n\
             metadata:\n  name: {app}\n  labels:\n    app: {app}\n\
             spec:\n  clusterIP: None\n  publishNotReadyAddresses: true\n  selector:\n    \
             app: {app}\n  ports:\n    - name: byzsgd\n      port: {PORT}\n      targetPort: \
             {PORT}\n"
        )
    }

    /// The cluster file as a ConfigMap.
    pub fn config(&self) -> String {
        format!(
            "# The cluster file every pod reads (written by byzsgd keygen --kubernetes).\n\
             apiVersion: v1\n\
             kind: ConfigMap\n\
             metadata:\n  name: {app}-config\n  labels:\n    app: {app}\n\
             data:\n  cluster.toml: |\n{}\n",
            indent(&self.cluster_file, 4),
            app = self.app
        )
    }

    /// The CA's certificate as a ConfigMap (public).
    pub fn ca(&self, ca_pem: &str) -> String {
        format!(
            "apiVersion: v1\n\
             kind: ConfigMap\n\
             metadata:\n  name: {app}-ca\n  labels:\n    app: {app}\n\
             data:\n  ca.pem: |\n{}\n",
            indent(ca_pem, 4),
            app = self.app
        )
    }

    /// Node `name`'s Secret: its certificate and private key.
    pub fn secret(&self, name: &str, cert: &str, key: &str) -> String {
        format!(
            "# {name}'s private key: apply it, never commit it.\n\
             apiVersion: v1\n\
             kind: Secret\n\
             metadata:\n  name: {app}-{name}-key\n  labels:\n    app: {app}\n\
             type: Opaque\n\
             stringData:\n  {name}.pem: |\n{}\n  {name}.key: |\n{}\n",
            indent(cert, 4),
            indent(key, 4),
            app = self.app
        )
    }

    /// One StatefulSet per node.
    pub fn nodes(&self) -> String {
        let c = self.shape;
        let mut out = format!(
            "# One StatefulSet per node, so each pod mounts only its own key (written by byzsgd \
             keygen --kubernetes).\n# {} servers (s0..s{}) and {} workers (w0..w{}).\n",
            c.n_ps,
            c.n_ps.saturating_sub(1),
            c.n_w,
            c.n_w.saturating_sub(1)
        );
        for node in identity::all(c.n_ps, c.n_w) {
            let (name, role) = (id::name(node), id::role(node));
            let _ = write!(
                out,
                "---\n\
                 apiVersion: apps/v1\n\
                 kind: StatefulSet\n\
                 metadata:\n  name: {app}-{name}\n  labels:\n    app: {app}\n    \
                 byzsgd/node: {name}\n    byzsgd/role: {role}\n\
                 spec:\n  serviceName: {app}\n  replicas: 1\n  podManagementPolicy: Parallel\n  \
                 selector:\n    matchLabels:\n      app: {app}\n      byzsgd/node: {name}\n  \
                 template:\n    metadata:\n      labels:\n        app: {app}\n        \
                 byzsgd/node: {name}\n        byzsgd/role: {role}\n    spec:\n      \
                 terminationGracePeriodSeconds: {GRACE_SECONDS}\n      \
                 automountServiceAccountToken: false\n      securityContext:\n        \
                 runAsNonRoot: true\n        runAsUser: 10001\n        fsGroup: 10001\n        \
                 seccompProfile:\n          type: RuntimeDefault\n      \
                 containers:\n        - name: byzsgd\n          image: {image}\n          \
                 args: [\"node\", \"--config\", \"/etc/byzsgd/cluster.toml\", \"--resume\", \
                 \"--wait-when-done\"]\n          \
                 securityContext:\n            allowPrivilegeEscalation: false\n            \
                 capabilities:\n              drop: [\"ALL\"]\n          \
                 resources:\n            requests:\n              cpu: \"1\"\n              \
                 memory: 1Gi\n          \
                 env:\n            - name: BYZSGD_ID\n              value: \"{name}\"\n            \
                 - name: RUST_LOG\n              value: info\n          ports:\n            \
                 - name: byzsgd\n              containerPort: {PORT}\n          volumeMounts:\n            \
                 - name: config\n              mountPath: /etc/byzsgd/cluster.toml\n              \
                 subPath: cluster.toml\n            - name: certs\n              mountPath: \
                 /etc/byzsgd/certs\n              readOnly: true\n            - name: state\n              \
                 mountPath: /var/lib/byzsgd\n      volumes:\n        - name: config\n          \
                 configMap:\n            name: {app}-config\n        - name: certs\n          \
                 projected:\n            sources:\n              - configMap:\n                  \
                 name: {app}-ca\n              - secret:\n                  name: \
                 {app}-{name}-key\n  volumeClaimTemplates:\n    - metadata:\n        name: state\n      \
                 spec:\n        accessModes: [\"ReadWriteOnce\"]\n        resources:\n          \
                 requests:\n            storage: 1Gi\n",
                app = self.app,
                image = self.image,
            );
        }
        out
    }

    /// Writes every manifest into `dir`, the Secrets (from `keys`) into `dir/secrets/`, readable
    /// by their owner only.
    pub fn write(&self, dir: &Path, keys: &ClusterKeys) -> Result<()> {
        std::fs::create_dir_all(dir.join("secrets"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let put = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
        };
        put("service.yaml", &self.service())?;
        put("config.yaml", &self.config())?;
        put("nodes.yaml", &self.nodes())?;
        put("ca.yaml", &self.ca(&keys.ca_cert))?;
        for (name, cert, key) in &keys.nodes {
            let p = dir.join("secrets").join(format!("{name}.yaml"));
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            use std::io::Write;
            o.open(&p)
                .and_then(|mut f| f.write_all(self.secret(name, cert, key).as_bytes()))
                .with_context(|| format!("writing {}", p.display()))?;
            // An older file keeps its mode through the truncation: set it again.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("restricting {}", p.display()))?;
            }
        }
        Ok(())
    }
}
