/* float32 Conv1d / Linear: gathered columns and 2x2 blocks, like the int8 column path. */
#include "pit_kernels.h"

size_t pit_conv_f32_scratch_bytes(uint16_t cin, uint16_t k)
{
    return 2u * (size_t)cin * k * sizeof(float);
}

static void gather_f32(const pit_conv_f32_t *p, int t, float *col)
{
    const int cin = p->cin, k = p->k, d = p->d;
    const int64_t first = (int64_t)t * p->stride - p->pad_left;
    for (int j = 0; j < k; j++, col += cin) {
        const int64_t ts = first + (int64_t)j * d; /* 64-bit: no overflow for huge d */
        if (ts < 0 || ts >= p->T) {
            for (int c = 0; c < cin; c++)
                col[c] = 0.0f;
        } else {
            const float *src = p->x + (size_t)ts * cin;
            for (int c = 0; c < cin; c++)
                col[c] = src[c];
        }
    }
}

static inline float clampf(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* Same structure as the int8 kernel: two gathered columns (steps t, t+1) and a 2 output
 * channels x 2 time steps block, so each loaded weight and input feeds two MACs. */
void pit_conv_f32(const pit_conv_f32_t *p, int co0, int co1, float *scratch)
{
    const int K = p->cin * p->k, cout = p->cout;
    float *c0 = scratch, *c1 = scratch + K;
    for (int t = 0; t < p->T_out; t += 2) {
        const int two = t + 1 < p->T_out;
        gather_f32(p, t, c0);
        if (two)
            gather_f32(p, t + 1, c1);
        else
            for (int i = 0; i < K; i++)
                c1[i] = 0.0f;
        float *y0 = p->y + (size_t)t * cout, *y1 = y0 + cout;
        int o = co0;
        for (; o + 1 < co1; o += 2) {
            const float *wa = p->w + (size_t)o * K, *wb = wa + K;
            float a00 = 0.0f, a01 = 0.0f, a10 = 0.0f, a11 = 0.0f;
            for (int i = 0; i < K; i++) {
                const float x0 = c0[i], x1 = c1[i], u = wa[i], v = wb[i];
                a00 += u * x0;
                a01 += u * x1;
                a10 += v * x0;
                a11 += v * x1;
            }
            const float b0 = p->bias ? p->bias[o] : 0.0f, b1 = p->bias ? p->bias[o + 1] : 0.0f;
            y0[o] = clampf(b0 + a00, p->act_min, p->act_max);
            y0[o + 1] = clampf(b1 + a10, p->act_min, p->act_max);
            if (two) {
                y1[o] = clampf(b0 + a01, p->act_min, p->act_max);
                y1[o + 1] = clampf(b1 + a11, p->act_min, p->act_max);
            }
        }
        for (; o < co1; o++) {
            const float *wa = p->w + (size_t)o * K;
            float a0 = 0.0f, a1 = 0.0f;
            for (int i = 0; i < K; i++) {
                a0 += wa[i] * c0[i];
                a1 += wa[i] * c1[i];
            }
            const float b0 = p->bias ? p->bias[o] : 0.0f;
            y0[o] = clampf(b0 + a0, p->act_min, p->act_max);
            if (two)
                y1[o] = clampf(b0 + a1, p->act_min, p->act_max);
        }
    }
}
