# frozen_string_literal: true

# Lamina's Ruby runtime bootstrap, shown inside the sandbox at
# /var/runtime/lib/runtime.rb and started as `ruby /var/runtime/lib/runtime.rb`.
#
# Reads AWS_LAMBDA_RUNTIME_API, _HANDLER and LAMBDA_TASK_ROOT (default /var/task).
# Behaves like the official Ruby runtime as its clients see it:
# - init failure: logs it, POSTs /runtime/init/error ("Init<LoadError>" ...), exits 252;
# - StandardError from the handler: POSTs /error ("Function<RuntimeError>" ...), goes on;
# - NoMethodError, NameError or a non-StandardError exception: POSTs /error and exits 255,
#   so the platform starts a fresh environment;
# - the event is the parsed JSON (a Hash for objects), or the raw String when it
#   is not JSON.
# Standard library only.

$stdout.sync = true
$stderr.sync = true

require 'json'
require_relative 'lamina_runtime/api_client'
require_relative 'lamina_runtime/context'
require_relative 'lamina_runtime/errors'
require_relative 'lamina_runtime/handler'
require_relative 'lamina_runtime/logging'

module LaminaRuntime
  EXIT_INIT_ERROR = -4     # exit status 252
  EXIT_CRITICAL = -1       # exit status 255
  EXIT_RUNTIME_API = -2    # exit status 254

  # The invoke loop for one environment.
  class Runner
    def initialize(env)
      @env = env
      @api = ApiClient.new(env.fetch('AWS_LAMBDA_RUNTIME_API', '127.0.0.1:9001'))
    end

    def run
      # The platform stops environments with SIGTERM; leave quietly (user code may trap it itself).
      Signal.trap('TERM') { exit(0) }
      task_root = @env.fetch('LAMBDA_TASK_ROOT', '/var/task')
      $LOAD_PATH.unshift(task_root) unless $LOAD_PATH.include?(task_root)
      handler_string = @env['_HANDLER'].to_s
      begin
        @handler = Handler.new(handler_string)
        @handler.load!
      rescue Exception => e # rubocop:disable Lint/RescueException -- user code may raise anything
        init_failed(handler_string, e)
      end
      loop { invoke_once }
    rescue ApiClient::ApiError => e
      warn "lamina ruby runtime: #{e.message}"
      exit(EXIT_RUNTIME_API)
    end

    private

    def init_failed(handler_string, error)
      reported = ReportedError.new(error, 'Init')
      LaminaRuntime.log_error("Init error when loading handler #{handler_string}", reported)
      @api.post_init_error(reported)
      exit(EXIT_INIT_ERROR)
    end

    def invoke_once
      headers, body = @api.next_invocation
      request_id = headers['lambda-runtime-aws-request-id']
      $_global_aws_request_id = request_id
      trace_id = headers['lambda-runtime-trace-id']
      trace_id ? ENV['_X_AMZN_TRACE_ID'] = trace_id : ENV.delete('_X_AMZN_TRACE_ID')

      result, content_type = run_handler(request_id, headers, body)
      @api.post_response(request_id, result, content_type) if result
    end

    # Returns [body, content_type], or nil after reporting an error.
    def run_handler(request_id, headers, body)
      context = LambdaContext.new(headers)
      @handler.call(unmarshal(headers, body), context)
    rescue NoMethodError, NameError => e # a broken handler reference: hard failure, as on AWS
      fail_invoke(request_id, e, 'Critical exception from handler', fatal: true)
    rescue StandardError => e
      fail_invoke(request_id, e, 'Error raised from handler method', fatal: false)
    rescue Exception => e # rubocop:disable Lint/RescueException
      fail_invoke(request_id, e, 'Critical exception from handler', fatal: true)
    end

    def fail_invoke(request_id, error, label, fatal:)
      reported = ReportedError.new(error)
      LaminaRuntime.log_error(label, reported)
      @api.post_error(request_id, reported)
      exit(EXIT_CRITICAL) if fatal
      nil
    end

    # The official runtime parses JSON bodies; anything else reaches the handler as a String.
    def unmarshal(headers, body)
      type = headers['content-type'].to_s
      return body unless type.empty? || type.start_with?('application/json')

      JSON.parse(body)
    rescue JSON::ParserError
      body
    end
  end
end

LaminaRuntime::Runner.new(ENV).run
