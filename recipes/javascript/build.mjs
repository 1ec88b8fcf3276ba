// The javascript recipe's build, run by node in the stage from $WORK/toolchain (inlined by the
// template: an edit changes the stage key). It checks node, bundles the entry with rolldown
// (npm imports from app/node_modules, TypeScript types stripped by oxc, `wasi:` imports left to
// componentize-js) into one ES module, and makes a component of it with componentize-js.
//   node toolchain/build.mjs ENTRY WIT_DIR WORLD OUT BUNDLE(true|false) [DISABLED FEATURE...]
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const fail = (message) => { process.stderr.write(message + "\n"); process.exit(2); };
const [entry, wit, world, out, bundle, ...disable] = process.argv.slice(2);
const major = Number(process.versions.node.split(".")[0]);
if (major < 20) {
  fail(`componentize-js needs Node.js 20 or newer, the stage's node is ${process.version}: ` +
       "put a newer node first on PATH (Debian 13's nodejs is 20)");
}

let source = entry;
if (bundle === "true") {
  const { rolldown } = await import("rolldown");
  let built;
  try {
    built = await rolldown({
      input: entry,
      platform: "neutral",  // StarlingMonkey is neither node nor a browser: no node: built-ins
      external: [/^wasi:/],
      resolve: { mainFields: ["module", "main"], conditionNames: ["import", "module", "default"] },
      logLevel: "warn",
    });
    await built.write({ file: `${out}.bundle.js`, format: "esm", codeSplitting: false, sourcemap: false });
  } catch (err) {
    fail(`cannot bundle ${entry.replace(/^app\//, "")}: ${String(err.message || err).split("\n").slice(0, 6).join(" ")}`);
  } finally {
    await built?.close();
  }
  source = `${out}.bundle.js`;
  const digest = createHash("sha256").update(readFileSync(source)).digest("hex");
  process.stdout.write(`bundled ${entry.replace(/^app\//, "")} into one module, sha256 ${digest}\n`);
} else if (/\.[cm]?tsx?$/.test(entry)) {
  fail(`${entry.replace(/^app\//, "")} is TypeScript: keep \`bundle: true\` (rolldown strips the types)`);
}

const { componentize } = await import("@bytecodealliance/componentize-js");
try {
  const { component } = await componentize({
    sourcePath: source, witPath: wit, worldName: world || undefined, disableFeatures: disable, enableAot: false,
  });
  writeFileSync(out, component);
} catch (err) {
  fail(`componentize-js: ${String(err.message || err).split("\n").slice(0, 8).join(" ")}`);
}
