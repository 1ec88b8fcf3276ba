// Checks of the assemblyscript recipe, run by node in the stage (inlined by the template, so an
// edit changes the stage key). `deps`: every dependency assemblyscript's package.json names is
// unpacked in node_modules at a version it accepts (the recipe's pins move together), and node is
// as new as its `engines` asks.
// `wasi FILE`: the module imports only WASI preview 1 and exports _start or _initialize, i.e.
// the wasi-shim's options were applied (else asc emits `env.abort` and friends for a JS host).
import { readFileSync } from "node:fs";

const fail = (message) => { process.stderr.write(message + "\n"); process.exit(2); };
const manifest = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"));
const parse = (v) => v.split(/[-+]/)[0].split(".").map(Number);
const atLeast = (a, b) => (a[0] - b[0] || a[1] - b[1] || a[2] - b[2]) >= 0;
const [mode, file] = process.argv.slice(2);
if (mode !== "deps" && mode !== "wasi") fail(`check.mjs: unknown mode ${mode}`);

if (mode === "deps") {
  const asc = manifest("assemblyscript");
  const needs = /^>=\s*(\d+)/.exec(asc.engines?.node || "");
  if (needs && Number(process.versions.node.split(".")[0]) < Number(needs[1])) {
    fail(`assemblyscript ${asc.version} needs Node.js ${asc.engines.node}, the stage's node is ${process.version}: ` +
         `put a newer node first on PATH (Debian 13's nodejs is 20)`);
  }
  for (const [name, range] of Object.entries(asc.dependencies || {})) {
    let have = null;
    try { have = manifest(name).version; } catch { /* not unpacked */ }
    const want = range.replace(/^[\^~=]/, "");
    const [a, b] = [parse(have || "0"), parse(want)];
    // exact versions, ^ and ~ ranges: what assemblyscript's manifests have used
    const ok = have !== null && (range.startsWith("^") ? a[0] === b[0] && (a[0] > 0 || a[1] === b[1]) && atLeast(a, b)
      : range.startsWith("~") ? a[0] === b[0] && a[1] === b[1] && atLeast(a, b) : have === want);
    if (!ok) {
      fail(`assemblyscript ${asc.version} needs ${name}@${range}, the recipe unpacked ${have ?? "none"}: ` +
           `set the recipe's ${name}_version and ${name}_sha256 (npm view assemblyscript@${asc.version} dependencies)`);
    }
  }
} else if (mode === "wasi") {
  const module = new WebAssembly.Module(readFileSync(file));
  const foreign = WebAssembly.Module.imports(module).filter((i) => i.module !== "wasi_snapshot_preview1");
  if (foreign.length) {
    fail(`${file.split("/").pop()} imports ${foreign.map((i) => `${i.module}.${i.name}`).join(", ")}: not a WASI module ` +
         `(asc ran without @assemblyscript/wasi-shim's options): make the asconfig extend ` +
         `./node_modules/@assemblyscript/wasi-shim/asconfig.json, or declare only WASI imports`);
  }
  const exports = WebAssembly.Module.exports(module).map((e) => e.name);
  if (!exports.includes("_start") && !exports.includes("_initialize")) {
    fail(`${file.split("/").pop()} exports neither _start nor _initialize: keep the wasi-shim's exportStart`);
  }
}
