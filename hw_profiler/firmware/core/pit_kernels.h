/* Layer kernels. Activations are channel-last [T][C] (see docs/protocol.md section 3). */
#ifndef PIT_KERNELS_H
#define PIT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Dilated, strided int8 Conv1d with zero padding (the input zero point) on either side:
 * output step t reads input rows t * stride - pad_left + j * d, j < k; rows outside
 * [0, T) are padding, so the right padding is implied by T_out. The causal conv is
 * pad_left = (k-1)*d, stride 1, T_out = T. Weights [cout][k][cin] int8 symmetric,
 * per-output-channel multiplier/shift. Linear is the k = 1 case. */
typedef struct {
    const int8_t *x;
    int8_t *y;
    const int8_t *w;
    const int32_t *bias; /* may be NULL */
    const int32_t *mult;
    const int32_t *shift;
    uint16_t T, cin, cout, k, d;
    int32_t in_zp, out_zp, act_min, act_max;
    uint16_t stride, T_out;
    uint32_t pad_left;
} pit_conv_q_t;

typedef struct {
    const float *x;
    float *y;
    const float *w; /* [cout][k][cin] */
    const float *bias; /* may be NULL */
    uint16_t T, cin, cout, k, d;
    float act_min, act_max;
    uint16_t stride, T_out;
    uint32_t pad_left;
} pit_conv_f32_t;

typedef struct {
    int32_t in1_zp, in2_zp, out_zp;
    int32_t left_shift, m1, s1, m2, s2, mo, so;
    int32_t act_min, act_max;
} pit_add_q_t;

/* Scratch (bytes) for one conv call: two gathered int16 / float input columns. */
size_t pit_conv_int8_scratch_bytes(uint16_t cin, uint16_t k);
size_t pit_conv_f32_scratch_bytes(uint16_t cin, uint16_t k);

/* Output channels [co0, co1) only, so multi-core ports can split the work
 * (pit_split_channels). scratch must be 4-aligned. */
void pit_conv_int8(const pit_conv_q_t *p, int co0, int co1, int16_t *scratch);
void pit_conv_f32(const pit_conv_f32_t *p, int co0, int co1, float *scratch);

void pit_avgpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max);
void pit_maxpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max);
void pit_avgpool_f32(const float *x, float *y, int T, int C, int k, int s);
void pit_maxpool_f32(const float *x, float *y, int T, int C, int k, int s);
void pit_add_int8(const int8_t *a, const int8_t *b, int8_t *y, size_t n, const pit_add_q_t *q);
/* pit_add_int8's path for adds of 128 elements or more: both inputs' rescaled terms
 * tabulated, the output requantisation folded into one SMMLAR and a shift. Bit-exact with
 * the element-wise arithmetic; returns 0, writing nothing, for parameters where that
 * cannot be guaranteed (pit_add_int8 then computes element by element). */
int pit_add_int8_lut(const int8_t *a, const int8_t *b, int8_t *y, size_t n, const pit_add_q_t *q);
void pit_add_f32(const float *a, const float *b, float *y, size_t n, float act_min, float act_max);

/* Output-channel range [*start, *end) of `core` among n_cores: contiguous, balanced, and
 * starting on even channels so every core keeps the 2-channel blocking. */
void pit_split_channels(int cout, int n_cores, int core, int *start, int *end);

#endif
