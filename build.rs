// include_dir only notices edits to files it already embeds; a file newly
// added to references/ needs this to trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=references");
    println!("cargo:rerun-if-changed=templates");
}
