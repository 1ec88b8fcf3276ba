# Run the script named by the first argument, like `ruby SCRIPT ARGS...`, and exit with its status.
begin
  $0 = ARGV.shift || abort("usage: ruby.wasm SCRIPT [ARGS...]")
  # Gems the recipe installed from the app's Gemfile.lock: vendor/gems/NAME-VERSION/lib beside it
  Dir.glob(File.join(File.dirname(File.expand_path($0)), "vendor", "gems", "*", "lib")).sort.reverse_each do |lib|
    $LOAD_PATH.unshift(lib)
  end
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
