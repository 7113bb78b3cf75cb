# The one list of native sources and of the addon's defines. binding.gyp
# includes this file and CMakeLists.txt parses it, so the two build paths
# cannot drift.
{
  'variables': {
    # node-addon-api with C++ exceptions; a failed call while a worker
    # terminates is dropped, not a fatal error (native/js/environment.h).
    'addon_defines': [
      'NAPI_VERSION=8',
      'NAPI_CPP_EXCEPTIONS',
      'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
      'NODE_ADDON_API_DISABLE_DEPRECATED',
    ],
    'addon_sources': [
      'native/js/environment.cc',
      'native/js/commands.cc',
      'native/js/read_options.cc',
      'native/js/deliver.cc',
      'native/js/constants.cc',
      'native/js/test_hooks.cc',
      'native/thread/service_thread.cc',
      'native/thread/mailbox.cc',
      'native/thread/spin.cc',
      'native/thread/vhosts.cc',
      'native/thread/timer.cc',
      'native/thread/cpu_budget.cc',
      'native/thread/resolver.cc',
      'native/event_batch.cc',
      'native/connection/connection.cc',
      'native/connection/callback.cc',
      'native/connection/race.cc',
      'native/connection/handshake.cc',
      'native/connection/tls.cc',
      'native/connection/receive.cc',
      'native/connection/send.cc',
      'native/connection/frame_writer.cc',
      'native/connection/heartbeat.cc',
      'native/connection/errors.cc',
      'native/log_sink.cc',
      'native/json.cc',
      'native/clock.cc',
      'native/session/session.cc',
      'native/session/inbound.cc',
      'native/session/outbound.cc',
      'native/session/outbox.cc',
      'native/session/reconnect.cc',
      'native/session/rotation.cc',
      'native/session/classify.cc',
      'native/session/backoff.cc',
    ],
  },
}
