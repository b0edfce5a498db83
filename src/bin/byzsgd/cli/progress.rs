//! Progress of a long run: an indicatif bar on a terminal, a line every tenth of the run on
//! stderr otherwise (logs, CI), nothing with `--quiet`.

use byzsgd_core::node::StepRow;

/// A progress bar on a terminal; a line every tenth of the run otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    steps: u64,
}

/// Progress for a run of `steps` steps.
pub fn progress_bar(steps: u64, quiet: bool) -> Progress {
    use std::io::IsTerminal;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(steps);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        b
    });
    Progress {
        bar,
        steps: if quiet { 0 } else { steps },
    }
}

impl Progress {
    /// Shows `row`, with the last measured accuracy.
    pub fn tick(&self, row: &StepRow, acc: Option<f64>) {
        let msg = format!(
            "loss {} acc {} diameter {:.2e}",
            row.loss.map_or("-".into(), |l| format!("{l:.3}")),
            acc.map_or("-".into(), |a| format!("{:.1}%", 100.0 * a)),
            row.diameter
        );
        match &self.bar {
            Some(b) => {
                b.set_position(row.step + 1);
                b.set_message(msg);
            }
            None if self.steps > 0 => {
                let every = (self.steps / 10).max(1);
                if (row.step + 1).is_multiple_of(every) || row.step + 1 == self.steps {
                    eprintln!(
                        "step {}/{} ({:.1} s): {msg}",
                        row.step + 1,
                        self.steps,
                        row.wall_seconds
                    );
                }
            }
            None => {}
        }
    }

    /// Leaves the bar at its end.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
