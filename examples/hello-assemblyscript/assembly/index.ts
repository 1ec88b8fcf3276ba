// A WASI command in AssemblyScript: prints its declared env and arguments, reads a file from the
// image, and exits with a code (asc with @assemblyscript/wasi-shim, built by the `assemblyscript`
// recipe). The shim gives `console`, `process.argv`, `process.env` and `process.exit`; it has no
// file API, so the file is read through the WASI calls its bindings declare.
import {
  errno, fd, fd_close, fd_prestat_dir_name, fd_prestat_get, fd_read, iovec, path_open, prestat, rights,
} from "bindings/wasi_snapshot_preview1";

// The directory preopened as `name` ("/" by wasmtime-based runners such as `wasmbuild run`, "."
// by crun), or -1: WASI has no absolute paths of its own, a path is opened under a preopen.
function preopen(name: string): i32 {
  const buf = memory.data(8); // a prestat: tag (u8), then the name's length (u32)
  for (let dir: fd = 3; fd_prestat_get(dir, changetype<prestat>(buf)) == errno.SUCCESS; dir++) {
    const len = load<u32>(buf, 4);
    const bytes = new Uint8Array(len);
    if (fd_prestat_dir_name(dir, bytes.dataStart, len) != errno.SUCCESS) continue;
    if (String.UTF8.decodeUnsafe(bytes.dataStart, len) == name) return <i32>dir;
  }
  return -1;
}

// The file at `path` under the directory `dir`, or null.
function readFile(dir: fd, path: string): string | null {
  const name = String.UTF8.encode(path);
  const opened = memory.data(4);
  if (path_open(dir, 0, changetype<usize>(name), name.byteLength, 0, rights.FD_READ, 0, 0,
                changetype<usize>(opened)) != errno.SUCCESS) return null;
  const file = load<u32>(opened);
  let text = "";
  const chunk = new Uint8Array(4096);
  const iov = memory.data(offsetof<iovec>());
  const nread = memory.data(sizeof<usize>());
  while (true) {
    store<usize>(iov, chunk.dataStart, offsetof<iovec>("buf"));
    store<usize>(iov, <usize>chunk.length, offsetof<iovec>("buf_len"));
    if (fd_read(file, iov, 1, nread) != errno.SUCCESS) { fd_close(file); return null; }
    const n = load<usize>(nread);
    if (n == 0) break;
    text += String.UTF8.decodeUnsafe(chunk.dataStart, n);
  }
  fd_close(file);
  return text;
}

const keys = process.env.keys().sort();
let env = "env:";
for (let i = 0; i < keys.length; i++) env += " " + keys[i] + "=" + process.env.get(keys[i]);
console.log(env);
const args = process.argv.slice(1);
console.log("args:" + (args.length ? " " + args.join(" ") : ""));

let root = preopen("/");
if (root < 0) root = preopen(".");
const greeting: string | null = root < 0 ? null : readFile(<fd>root, "etc/greeting.txt");
if (greeting === null) {
  process.stderr.write("cannot read /etc/greeting.txt\n");
  process.exit(3);
} else {
  process.stdout.write<string>(greeting!);
}
if (args.length > 0 && args[0] == "fail") process.exit(7);
