fn main() {
    // The window's files are embedded at compile time: rebuild when they change.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build()
}
