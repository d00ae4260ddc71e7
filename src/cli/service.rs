//! `builderbar start|stop|restart`: ask the service (launchd on macOS) to
//! change the VM's state. The VM keeps running when the CLI exits.

use anyhow::Result;
use builderbar::paths::Paths;
use builderbar::service::Service;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

pub fn run(action: Action) -> Result<()> {
    let paths = Paths::from_env()?;
    let service = Service::for_platform(&paths);
    match action {
        Action::Start => {
            service.start()?;
            println!("Starting the builder. `builderbar status` shows when it runs.");
        }
        Action::Stop => {
            service.stop()?;
            println!("The builder is stopped and stays stopped until `builderbar start`.");
        }
        Action::Restart => {
            service.restart()?;
            println!("Restarting the builder.");
        }
    }
    Ok(())
}
