# node-gyp build of the same addon as CMakeLists.txt, from the same source
# list (native/sources.gypi). lws must be built first (deps/build-lws.sh).
{
  'includes': ['native/sources.gypi'],
  'variables': {
    'lws_prefix': '<!(node scripts/lws-prefix.js)',
    'multiarch': '<!(gcc -print-multiarch)',
    'napi_include': '<!(node scripts/napi-include.js)',
  },
  'targets': [
    {
      'target_name': 'node_libwebsockets',
      'sources': ['<@(addon_sources)'],
      'include_dirs': [
        '<(lws_prefix)/include',
        '<(napi_include)',
      ],
      'defines': ['<@(addon_defines)'],
      'cflags_cc': ['-std=c++17', '-fvisibility=hidden', '-Wall', '-Wextra', '-Wno-unused-parameter'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
      'libraries': [
        '<(lws_prefix)/lib/libwebsockets.a',
        '/usr/lib/<(multiarch)/libssl.a',
        '/usr/lib/<(multiarch)/libcrypto.a',
        '/usr/lib/<(multiarch)/libz.a',
        '-lpthread', '-ldl',
      ],
      'ldflags': ['-Wl,--exclude-libs,ALL', '-Wl,--version-script=<(module_root_dir)/native/exports.map', '-static-libstdc++', '-static-libgcc'],
    },
  ],
}
