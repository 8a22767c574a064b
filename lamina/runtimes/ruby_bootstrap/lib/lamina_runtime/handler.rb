# frozen_string_literal: true

require 'stringio'

module LaminaRuntime
  # A handler string and how to call it, with the official runtime's rules:
  #   "file.method"                -> require "file" (from the task root), call method
  #   "file.Module::Class.method"  -> require "file", call Module::Class.method
  # Both are called with keywords `event:` and `context:`. Nothing is checked
  # beyond the file at init: a missing method or class fails the first invoke.
  class Handler
    attr_reader :file_name

    def initialize(handler_string)
      parts = handler_string.split('.')
      case parts.size
      when 2 then @file_name, @method_name = parts
      when 3 then @file_name, @class_name, @method_name = parts
      else
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or " \
                             'FILENAME.CLASS.METHOD where FILENAME corresponds with an existing Ruby ' \
                             'source file FILENAME.rb, CLASS is an optional module/class namespace ' \
                             'and METHOD is a callable method. If using CLASS, METHOD must be a ' \
                             'class-level method.'
      end
    end

    def load!
      require @file_name
    end

    # Returns [body, content_type]. Raises whatever the user code raises.
    def call(event, context)
      receiver = @class_name ? Kernel.const_get(@class_name) : TOPLEVEL_BINDING.receiver
      marshal(receiver.__send__(@method_name, event: event, context: context))
    end

    private

    # JSON for ordinary values; an IO/StringIO is sent raw as application/unknown.
    def marshal(result)
      case result
      when StringIO, IO then [result.read, 'application/unknown']
      else [result.to_json, 'application/json']
      end
    end
  end
end
