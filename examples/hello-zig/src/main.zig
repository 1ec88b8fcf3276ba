//! A WASI command in Zig: prints its declared env and arguments, reads a file from the image, and
//! exits with a code (zig build-exe -target wasm32-wasi, built by the `zig` recipe).
const std = @import("std");
const Io = std.Io;

fn lessThan(_: void, a: []const u8, b: []const u8) bool {
    return std.mem.lessThan(u8, a, b);
}

pub fn main(init: std.process.Init) !u8 {
    const arena = init.arena.allocator();
    var buf: [4096]u8 = undefined;
    var stdout: Io.File.Writer = .init(.stdout(), init.io, &buf);
    const out = &stdout.interface;

    const keys = try arena.dupe([]const u8, init.environ_map.keys());
    std.mem.sort([]const u8, keys, {}, lessThan);
    try out.writeAll("env:");
    for (keys) |key| try out.print(" {s}={s}", .{ key, init.environ_map.get(key).? });
    try out.writeAll("\nargs:");
    const args = try init.minimal.args.toSlice(arena);
    for (args[1..]) |arg| try out.print(" {s}", .{arg});
    try out.writeAll("\n");

    // WASI has no absolute paths of its own: a path is opened under a preopened directory. The
    // image root is preopened as "/" by wasmtime-based runners (wasmbuild run) and as "." by crun.
    const root: Io.Dir = for ([_][]const u8{ "/", "." }) |name| {
        if (init.preopens.get(name)) |found| switch (found) {
            .dir => |dir| break dir,
            .file => {},
        };
    } else {
        try out.flush();
        std.debug.print("no preopened directory for the image root\n", .{});
        return 3;
    };
    const greeting = root.readFileAlloc(init.io, "etc/greeting.txt", arena, .limited(1 << 16)) catch |err| {
        try out.flush();
        std.debug.print("cannot read /etc/greeting.txt: {s}\n", .{@errorName(err)});
        return 3;
    };
    try out.writeAll(greeting);
    try out.flush();
    return if (args.len > 1 and std.mem.eql(u8, args[1], "fail")) 7 else 0;
}
