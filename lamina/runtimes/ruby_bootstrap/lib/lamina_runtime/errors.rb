# frozen_string_literal: true

module LaminaRuntime
  # How an exception becomes the JSON the Runtime API receives, as the official
  # Ruby runtime sends it: {"errorMessage", "errorType", "stackTrace"} where the
  # type reads "Function<RuntimeError>" for handler errors and
  # "Init<LoadError>" for init errors, and the trace stops at the runtime's own
  # frames.
  class ReportedError
    # Only these classes are named in the Lambda-Runtime-Function-Error-Type
    # header; anything else is reported there as Function<UserException>.
    NAMED_IN_HEADER = %w[ArgumentError NoMethodError Exception StandardError NameError
                         LoadError SystemExit SystemStackError].freeze
    RUNTIME_LIB = File.expand_path('..', __dir__)

    attr_reader :original

    def initialize(original, classification = 'Function')
      @original = original
      @error_type = "#{classification}<#{original.class}>"
    end

    def header_type
      NAMED_IN_HEADER.include?(@original.class.to_s) ? @error_type : 'Function<UserException>'
    end

    def to_lambda_response
      { errorMessage: @original.message, errorType: @error_type, stackTrace: stack_trace }
    end

    private

    def stack_trace
      frames = @original.backtrace_locations&.map(&:to_s) || @original.backtrace || []
      frames.first(100).take_while { |line| !line.start_with?(RUNTIME_LIB) }
    end
  end

  # Logs an error the way the official runtime does: a label, then pretty JSON.
  def self.log_error(label, reported)
    puts label
    puts JSON.pretty_generate(reported.to_lambda_response)
  end
end
