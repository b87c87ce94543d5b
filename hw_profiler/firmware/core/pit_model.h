/* Model image (docs/protocol.md section 4): validation, static arena planning, execution. */
#ifndef PIT_MODEL_H
#define PIT_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "pit_kernels.h"

#define PIT_MAX_TENSORS 64
#define PIT_MAX_LAYERS 64
/* Format 2 adds strided and padded CONV; format 1 images still load (causal CONV). */
#define PIT_MODEL_VERSION 2
#define PIT_MODEL_VERSION_MIN 1
/* Any tensor or scratch area above this is refused (NO_MEMORY) before planning, so all
 * arena arithmetic stays within 32 bits. */
#define PIT_MAX_TENSOR_BYTES (16u * 1024u * 1024u)

enum { PIT_DT_INT8 = 0, PIT_DT_F32 = 1 };
enum { PIT_OP_CONV = 1, PIT_OP_AVGPOOL = 2, PIT_OP_MAXPOOL = 3, PIT_OP_LINEAR = 4,
       PIT_OP_ADD = 5, PIT_OP_FLATTEN = 6 };

/* Status codes double as the protocol's ERROR codes. */
enum {
    PIT_OK = 0,
    PIT_E_BAD_CRC = 1,
    PIT_E_TOO_LONG = 2,
    PIT_E_UNKNOWN_TYPE = 3,
    PIT_E_BAD_LENGTH = 4,
    PIT_E_BAD_ARG = 5,
    PIT_E_NO_MEMORY = 6,
    PIT_E_NO_MODEL = 7,
    PIT_E_LOAD_STATE = 8,
    PIT_E_IMAGE_CRC = 9,
    PIT_E_MODEL_MAGIC = 10,
    PIT_E_MODEL_VERSION = 11,
    PIT_E_MODEL_INVALID = 12,
    PIT_E_UNSUPPORTED = 13
};

typedef struct {
    uint8_t dtype;
    uint16_t C, T;
    int32_t zp;
    uint32_t bytes;
    uint32_t offset; /* in the arena */
    int16_t first, last; /* lifetime in layer indices (input: -1) */
} pit_tensor_t;

typedef struct {
    uint8_t op;
    uint16_t in0, in1, out, k, d, s;
    uint32_t pad_left, pad_right; /* CONV zero padding (format 1: causal) */
    const void *w, *bias;
    const int32_t *mult, *shift;
    uint32_t act_min, act_max; /* raw: int32 for int8, float bits for float32 */
} pit_layer_t;

typedef struct {
    int loaded;
    uint16_t n_tensors, n_layers, input, output;
    pit_tensor_t tensors[PIT_MAX_TENSORS];
    pit_layer_t layers[PIT_MAX_LAYERS];
    uint8_t *arena;
    uint32_t arena_bytes; /* tensors + scratch */
    uint32_t scratch_offset;
} pit_model_t;

/* Validate `image` (kept in place: weights are used from it) and plan the activation
 * arena into [arena, arena + arena_cap). On error *detail is the offending layer/tensor. */
int pit_model_load(pit_model_t *m, const uint8_t *image, uint32_t size, uint8_t *arena,
                   uint32_t arena_cap, uint16_t *detail);
/* Run on the input already stored in the input tensor. layer_ticks may be NULL. */
void pit_model_run(pit_model_t *m, uint32_t *layer_ticks, uint64_t *total_ticks);
uint8_t *pit_model_tensor(pit_model_t *m, uint16_t id);

/* Conv dispatch used by the interpreter and BENCH_LAYER: single core unless the port
 * defines PIT_PARALLEL_CONV and supplies the optional hook board_conv_int8 (pit_board.h). */
void pit_exec_conv_int8(const pit_conv_q_t *p, int16_t *scratch);

uint32_t pit_rd32(const uint8_t *p);
uint16_t pit_rd16(const uint8_t *p);
void pit_wr32(uint8_t *p, uint32_t v);
void pit_wr16(uint8_t *p, uint16_t v);

#endif
