# Run the script named by the first argument, like `ruby SCRIPT ARGS...`, and exit with its status.
begin
  $0 = ARGV.shift || abort("usage: ruby.wasm SCRIPT [ARGS...]")
  load $0
  status = 0
rescue SystemExit => e
  status = e.status
rescue Exception => e # rubocop:disable Lint/RescueException: a script's uncaught error, as ruby prints it
  $stderr.write(e.full_message(highlight: false))
  status = 1
end
[$stdout, $stderr].each { |io| io.flush rescue nil }
exit!(status)
