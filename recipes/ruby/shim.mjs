// The stage's two byte-level edits (node, no dependencies):
//   node shim.mjs wat START.WAT BOOT.RB OUT.WAT   fill start.wat's strings segment with boot.rb
//   node shim.mjs exports IN.WASM OUT.WASM NAME... keep only these exports
// The merged module exports ruby's reactor interface and _initialize too: a runtime that calls
// _initialize before _start would initialise ruby twice (wasi-libc traps on that).
import { readFileSync, writeFileSync } from "node:fs";

const [command, ...args] = process.argv.slice(2);

if (command === "wat") {
  const [template, boot, out] = args;
  const strings = Buffer.concat([Buffer.from("ruby\0-EUTF-8\0-e_=0\0--\0"), readFileSync(boot), Buffer.from([0])]);
  const escaped = [...strings].map((b) => (b >= 32 && b < 127 && b !== 34 && b !== 92
    ? String.fromCharCode(b) : "\\" + b.toString(16).padStart(2, "0"))).join("");
  const text = readFileSync(template, "utf8")
    .replace(/\(data \$strings "[^"]*"\)/, `(data $strings "${escaped}")`)
    .replaceAll("@LEN@", String(strings.length))
    .replaceAll("@BOOTLEN@", String(strings.length - 23));
  writeFileSync(out, text);
} else if (command === "exports") {
  const [input, output, ...keep] = args;
  const bytes = readFileSync(input);
  const leb = (at) => {
    let value = 0, shift = 0, byte;
    do { byte = bytes[at++]; value += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
    return [value, at];
  };
  const encode = (value) => {
    const out = [];
    do { let byte = value & 0x7f; value = Math.floor(value / 128); if (value) byte |= 0x80; out.push(byte); } while (value);
    return Buffer.from(out);
  };
  const parts = [bytes.subarray(0, 8)];
  let at = 8, found = 0;
  while (at < bytes.length) {
    const [size, body] = leb(at + 1);
    const end = body + size;
    if (bytes[at] !== 7) { parts.push(bytes.subarray(at, end)); at = end; continue; }
    let [count, p] = leb(body);
    const kept = [];
    for (let i = 0; i < count; i++) {
      const [len, name] = leb(p);
      const [, next] = leb(name + len + 1);  // kind byte, then the index
      if (keep.includes(bytes.toString("utf8", name, name + len))) { kept.push(bytes.subarray(p, next)); found++; }
      p = next;
    }
    const section = Buffer.concat([encode(kept.length), ...kept]);
    parts.push(Buffer.from([7]), encode(section.length), section);
    at = end;
  }
  if (found !== keep.length) { console.error(`${input} lacks one of the exports ${keep.join(", ")}`); process.exit(1); }
  writeFileSync(output, Buffer.concat(parts));
} else {
  console.error("usage: node shim.mjs wat|exports ...");
  process.exit(2);
}
