/*
 * loanet_opus: a libopus decoder for the edge agent, exposing the three calls
 * live playout needs and @discordjs/opus does not give:
 *
 *   decode(h, packet, 0, 0)      one packet → its PCM (size read from the packet)
 *   decode(h, null,  n, 0)       packet-loss concealment for exactly n samples
 *   decode(h, next,  n, 1)       in-band FEC: rebuild the n samples BEFORE `next`
 *                                from the LBRR data the encoder put in `next`
 *
 * Each takes an optional fifth argument, an Int16Array the caller keeps: the
 * samples are written there and their count returned, instead of a new
 * array per call (a live stream decodes 50 packets a second). A binding
 * without it ignores the argument; the caller tells the two by the answer.
 *
 * @discordjs/opus hard-codes decode_fec = 0 and a 120 ms frame size for
 * concealment (see ../opus.ts), so a site could only guess a lost frame with
 * PLC even when the server's encoder had sent its redundant copy in the next
 * packet. This is plain C against Node-API (ABI-stable across Node versions),
 * one function per libopus call, no state besides the OpusDecoder itself.
 *
 * A handle is a JS external owning one OpusDecoder; the finalizer destroys it,
 * and destroy() frees it early (a stream ended) — later calls then throw.
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "opus.h"

/* 120 ms at 48 kHz: the longest Opus packet (RFC 6716 §3.2.5). */
#define MAX_FRAME_SAMPLES 5760

typedef struct {
  OpusDecoder *dec;
  int channels;
} Handle;

#define CALL(env, call)                                   \
  do {                                                    \
    if ((call) != napi_ok) {                              \
      napi_throw_error((env), NULL, "node-api call failed: " #call); \
      return NULL;                                        \
    }                                                     \
  } while (0)

static napi_value throw_opus(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, opus_strerror(err));
  napi_throw_error(env, "ERR_OPUS", msg);
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Handle *h = (Handle *)data;
  if (h->dec) opus_decoder_destroy(h->dec);
  free(h);
}

static Handle *handle_of(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not an Opus decoder handle");
    return NULL;
  }
  Handle *h = (Handle *)data;
  if (h->dec == NULL) {
    napi_throw_error(env, NULL, "the Opus decoder was destroyed");
    return NULL;
  }
  return h;
}

/* create(sampleRate, channels) → handle */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t rate = 48000, channels = 1;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &rate) != napi_ok || napi_get_value_int32(env, argv[1], &channels) != napi_ok) {
    napi_throw_type_error(env, NULL, "create(sampleRate, channels) needs two integers");
    return NULL;
  }
  int err = OPUS_OK;
  OpusDecoder *dec = opus_decoder_create(rate, channels, &err);
  if (err != OPUS_OK || dec == NULL) return throw_opus(env, "opus_decoder_create", err);
  Handle *h = (Handle *)malloc(sizeof(Handle));
  if (h == NULL) {
    opus_decoder_destroy(dec);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  h->dec = dec;
  h->channels = channels;
  napi_value ext;
  if (napi_create_external(env, h, finalize, NULL, &ext) != napi_ok) {
    finalize(env, h, NULL);
    napi_throw_error(env, NULL, "napi_create_external failed");
    return NULL;
  }
  return ext;
}

/*
 * decode(handle, packet | null, frameSamples, fec[, out]) → Int16Array (interleaved)
 *
 * frameSamples 0 with a packet: decode the whole packet (its own duration).
 * A null packet conceals frameSamples; fec = true rebuilds frameSamples from
 * the packet's FEC data (libopus falls back to PLC when it carries none).
 * With `out` (an Int16Array) large enough for the samples: they are decoded
 * into it and the number of samples per channel is returned; too small, a new
 * array as without it.
 */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "decode(handle, packet, frameSamples, fec) needs four arguments");
    return NULL;
  }
  Handle *h = handle_of(env, argv[0]);
  if (h == NULL) return NULL;

  const unsigned char *data = NULL;
  size_t len = 0;
  napi_valuetype t;
  CALL(env, napi_typeof(env, argv[1], &t));
  if (t != napi_null && t != napi_undefined) {
    bool is_typed = false;
    CALL(env, napi_is_typedarray(env, argv[1], &is_typed));
    if (!is_typed) {
      napi_throw_type_error(env, NULL, "packet must be a Uint8Array or null");
      return NULL;
    }
    napi_typedarray_type tt;
    void *raw = NULL;
    napi_value ab;
    size_t off = 0;
    CALL(env, napi_get_typedarray_info(env, argv[1], &tt, &len, &raw, &ab, &off));
    if (tt != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "packet must be a Uint8Array");
      return NULL;
    }
    data = (const unsigned char *)raw;
  }
  int32_t frame = 0;
  bool fec = false;
  CALL(env, napi_get_value_int32(env, argv[2], &frame));
  CALL(env, napi_get_value_bool(env, argv[3], &fec));

  int samples;
  if (data != NULL && frame == 0 && !fec) {
    samples = opus_decoder_get_nb_samples(h->dec, data, (opus_int32)len);
    if (samples < 0) return throw_opus(env, "opus_decoder_get_nb_samples", samples);
  } else {
    samples = frame;
  }
  if (samples <= 0 || samples > MAX_FRAME_SAMPLES) {
    napi_throw_range_error(env, NULL, "frameSamples must be 1..5760 (at most 120 ms at 48 kHz)");
    return NULL;
  }
  if (fec && data == NULL) {
    napi_throw_type_error(env, NULL, "FEC decoding needs the packet that follows the lost one");
    return NULL;
  }

  size_t wanted = (size_t)samples * (size_t)h->channels;
  if (argc >= 5) {
    CALL(env, napi_typeof(env, argv[4], &t));
    if (t != napi_null && t != napi_undefined) {
      bool is_typed = false;
      CALL(env, napi_is_typedarray(env, argv[4], &is_typed));
      napi_typedarray_type tt = napi_uint8_array;
      size_t capacity = 0;
      void *raw = NULL;
      if (is_typed) CALL(env, napi_get_typedarray_info(env, argv[4], &tt, &capacity, &raw, NULL, NULL));
      if (tt != napi_int16_array) {
        napi_throw_type_error(env, NULL, "out must be an Int16Array");
        return NULL;
      }
      if (capacity >= wanted) {
        int n = opus_decode(h->dec, data, data ? (opus_int32)len : 0, (opus_int16 *)raw, samples, fec ? 1 : 0);
        if (n < 0) return throw_opus(env, "opus_decode", n);
        napi_value count;
        CALL(env, napi_create_int32(env, n, &count));
        return count;
      }
    }
  }

  void *out = NULL;
  napi_value buf;
  size_t bytes = wanted * sizeof(opus_int16);
  CALL(env, napi_create_arraybuffer(env, bytes, &out, &buf));
  int n = opus_decode(h->dec, data, data ? (opus_int32)len : 0, (opus_int16 *)out, samples, fec ? 1 : 0);
  if (n < 0) return throw_opus(env, "opus_decode", n);
  napi_value arr;
  CALL(env, napi_create_typedarray(env, napi_int16_array, (size_t)n * (size_t)h->channels, buf, 0, &arr));
  return arr;
}

/* reset(handle): OPUS_RESET_STATE (a new stream; no memory of the last one). */
static napi_value reset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Handle *h = argc ? handle_of(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  int err = opus_decoder_ctl(h->dec, OPUS_RESET_STATE);
  if (err != OPUS_OK) return throw_opus(env, "OPUS_RESET_STATE", err);
  return NULL;
}

/* destroy(handle): free the decoder now instead of at garbage collection. */
static napi_value destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  if (argc && napi_get_value_external(env, argv[0], &data) == napi_ok && data != NULL) {
    Handle *h = (Handle *)data;
    if (h->dec) opus_decoder_destroy(h->dec);
    h->dec = NULL;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"decode", NULL, decode, NULL, NULL, NULL, napi_default, NULL},
      {"reset", NULL, reset, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, destroy, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value v;
  if (napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, exports, "libopusVersion", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
