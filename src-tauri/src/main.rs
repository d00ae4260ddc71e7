// No console window on Windows release builds; irrelevant elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    skip_gdk_gl();
    builderbar_app::run();
}

/// GTK 3 on X11 probes OpenGL when it opens the display, to pick visuals for
/// GL widgets; that loads the GL driver (Mesa with LLVM: ~50 MB resident)
/// although the tray and the settings window never draw with GDK's GL —
/// WebKit renders in its own process. `GDK_GL=disable` skips the probe; a
/// value the user set is kept.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn skip_gdk_gl() {
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: the first statement of `main`, before any thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
}
