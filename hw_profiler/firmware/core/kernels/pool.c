/* AvgPool1d / MaxPool1d, int8 and float32. */
#include "pit_kernels.h"

#include "pit_quant.h"

void pit_avgpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const int8_t *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            int32_t acc = 0;
            for (int j = 0; j < k; j++)
                acc += src[(size_t)j * C + c];
            /* TFLite: round half away from zero */
            acc = acc > 0 ? (acc + k / 2) / k : (acc - k / 2) / k;
            y[(size_t)t * C + c] = pit_clamp_i8(acc, act_min, act_max);
        }
    }
}

void pit_maxpool_int8(const int8_t *x, int8_t *y, int T, int C, int k, int s, int32_t act_min,
                      int32_t act_max)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const int8_t *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            int32_t m = -128;
            for (int j = 0; j < k; j++) {
                int32_t v = src[(size_t)j * C + c];
                m = v > m ? v : m;
            }
            y[(size_t)t * C + c] = pit_clamp_i8(m, act_min, act_max);
        }
    }
}

void pit_avgpool_f32(const float *x, float *y, int T, int C, int k, int s)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const float *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int j = 0; j < k; j++)
                acc += src[(size_t)j * C + c];
            y[(size_t)t * C + c] = acc / (float)k;
        }
    }
}

void pit_maxpool_f32(const float *x, float *y, int T, int C, int k, int s)
{
    const int To = (T - k) / s + 1;
    for (int t = 0; t < To; t++) {
        const float *src = x + (size_t)t * s * C;
        for (int c = 0; c < C; c++) {
            float m = src[c];
            for (int j = 1; j < k; j++) {
                float v = src[(size_t)j * C + c];
                m = v > m ? v : m;
            }
            y[(size_t)t * C + c] = m;
        }
    }
}
