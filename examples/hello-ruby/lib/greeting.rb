# A second file of the app, found through require_relative.
module Greeting
  def self.read = File.read("/etc/greeting.txt")
end
