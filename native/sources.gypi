# The one list of native sources. binding.gyp includes this file and
# CMakeLists.txt parses it, so the two build paths cannot drift.
{
  'variables': {
    'addon_sources': [
      'native/addon.cc',
      'native/environment.cc',
      'native/service_thread.cc',
      'native/command_queue.cc',
      'native/event_batch.cc',
      'native/lws_glue.cc',
      'native/resolver.cc',
      'native/log_sink.cc',
      'native/json.cc',
      'native/session.cc',
      'native/policy.cc',
      'native/cpu_budget.cc',
      'native/timer_queue.cc',
      'native/backoff.cc',
    ],
  },
}
