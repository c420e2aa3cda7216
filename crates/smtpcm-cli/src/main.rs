fn main() {
    println!("smtpcm: under construction");
}
