# The seed article's demonstration in Ruby: CRuby for WASI sees only what the image declares.
# Prints its environment (only the image's env), its arguments, a file from the image and the
# image root (only the image's files), and exits with 7 when its first argument is "fail".
require_relative "lib/greeting"

puts "env: " + ENV.sort.map { |k, v| "#{k}=#{v}" }.join(" ")
puts "args: " + ARGV.join(" ")
puts Greeting.read
puts "root: " + Dir.children("/").sort.join(" ")
exit 7 if ARGV.first == "fail"
