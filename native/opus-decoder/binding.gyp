# loanet's own small libopus decoder binding (see opus_decoder.c for why).
# It compiles against the libopus 1.3.1 sources that @discordjs/opus vendors
# (node_modules/@discordjs/opus/deps), reusing that package's gyp target, so no
# system libopus and no download is needed: only the C compiler and Node's
# headers that every native dependency here already needs.
{
  "variables": {
    "opus_deps%": "<(module_root_dir)/../../node_modules/@discordjs/opus/deps",
  },
  "targets": [
    {
      "target_name": "loanet_opus",
      "dependencies": ["<(opus_deps)/binding.gyp:libopus"],
      "sources": ["opus_decoder.c"],
      "include_dirs": ["<(opus_deps)/opus/include"],
      "cflags": ["-Wall", "-Wextra", "-fPIC", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"],
    },
  ],
}
