# frozen_string_literal: true

# The context object handlers receive (`context:`). Named like the official
# runtime's class so code that checks for it keeps working.
class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
              :function_name, :memory_limit_in_mb, :function_version, :identity,
              :tenant_id, :client_context, :deadline_ms

  # `headers` maps Runtime API header names to values (the /next response).
  def initialize(headers)
    @clock_diff = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) -
                  Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond)
    @deadline_ms = headers['lambda-runtime-deadline-ms'].to_i
    @aws_request_id = headers['lambda-runtime-aws-request-id']
    @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    @identity = parse_json(headers['lambda-runtime-cognito-identity'])
    @tenant_id = present(headers['lambda-runtime-aws-tenant-id'])
    @client_context = parse_json(headers['lambda-runtime-client-context'])
  end

  # Milliseconds until the invoke's deadline, never negative. Uses the
  # monotonic clock so wall-clock jumps during an invoke do not matter.
  def get_remaining_time_in_millis # rubocop:disable Naming/AccessorMethodName
    now = Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond) + @clock_diff
    remaining = @deadline_ms - now
    remaining.positive? ? remaining : 0
  end

  private

  def present(value)
    value.to_s.empty? ? nil : value
  end

  def parse_json(value)
    present(value) && JSON.parse(value)
  end
end
