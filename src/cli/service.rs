//! `builderbar start|stop|restart`: ask the service (launchd on macOS) to
//! change the VM's state. The VM keeps running when the CLI exits.

use anyhow::Result;
use builderbar::actions;
use builderbar::paths::Paths;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

pub fn run(action: Action) -> Result<()> {
    let paths = Paths::from_env()?;
    match action {
        Action::Start => {
            actions::start(&paths)?;
            println!(
                "The builder is starting; `builderbar status --watch` tells when it is Ready."
            );
        }
        Action::Stop => {
            actions::stop(&paths)?;
            println!("The builder is stopped and stays stopped until `builderbar start`.");
        }
        Action::Restart => {
            actions::restart(&paths)?;
            println!("The builder restarted; `builderbar status --watch` tells when it is Ready.");
        }
    }
    Ok(())
}
