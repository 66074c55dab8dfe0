# Runs a Rails migration schemashift wrote against a stand-in of
# ActiveRecord::Migration that records every SQL string given to `execute`
# and whether it ran inside a transaction (Rails' own around the migration,
# or a `transaction do` block the migration opened).
#
#   ruby run_migration.rb <file>...
#
# Prints one JSON array with, per file,
# {"up": [{sql, tx}], "down": [...] | {"error": message}}.
require "json"

module ActiveRecord
  class IrreversibleMigration < StandardError; end

  class Migration
    @registry = []
    class << self
      attr_reader :registry

      def [](_version)
        Migration
      end

      def inherited(sub)
        super
        Migration.registry << sub
      end

      def disable_ddl_transaction!
        @disable_ddl_transaction = true
      end

      def disable_ddl_transaction
        @disable_ddl_transaction || false
      end
    end

    attr_reader :log

    def initialize
      @log = []
      @in_tx = false
    end

    def execute(sql)
      @log << { "sql" => sql, "tx" => @in_tx }
    end

    def transaction
      raise "nested transaction" if @in_tx
      @in_tx = true
      yield
    ensure
      @in_tx = false
    end

    def run(direction)
      @log = []
      if self.class.disable_ddl_transaction
        send(direction)
      else
        transaction { send(direction) }
      end
      @log
    end
  end
end

results = ARGV.map do |file|
  # A class already loaded from another file is reopened, not inherited
  # again: find it by the name the file declares.
  load file
  klass = Object.const_get(File.read(file)[/^class (\w+) </, 1])
  result = { "up" => klass.new.run(:up) }
  begin
    result["down"] = klass.new.run(:down)
  rescue ActiveRecord::IrreversibleMigration => e
    result["down"] = { "error" => e.message }
  end
  result
end
puts JSON.generate(results)
