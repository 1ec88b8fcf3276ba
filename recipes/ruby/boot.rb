# Run the script named by the first argument, like `ruby SCRIPT ARGS...`, and exit with its status.
begin
  $0 = ARGV.shift || abort("usage: ruby.wasm SCRIPT [ARGS...]")
  # Gems the recipe installed from the app's Gemfile.lock, in vendor/gems/NAME-VERSION beside it:
  # the folders their gemspec's require_paths name (lib, if it names none)
  Dir.glob(File.join(File.dirname(File.expand_path($0)), "vendor", "gems", "*")).sort.reverse_each do |gem|
    listed = File.join(gem, ".wasmbuild-require-paths")
    paths = File.file?(listed) ? File.readlines(listed, chomp: true).reject(&:empty?) : []
    (paths.empty? ? ["lib"] : paths).reverse_each { |path| $LOAD_PATH.unshift(File.join(gem, path)) }
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
