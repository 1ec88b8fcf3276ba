// file: hello.rs (the seed article's example)
fn main() {
    println!("Hello Wasm");
}
