#include "pit_model.h"

#include <string.h>

#include "pit_board.h"
#include "pit_crc.h"

#define HDR_BYTES 32u
#define TENSOR_BYTES 16u
#define LAYER_BYTES 48u
#define ABSENT 0xFFFFFFFFu

uint32_t pit_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
uint16_t pit_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
void pit_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
void pit_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t align4(uint32_t v) { return (v + 3u) & ~3u; }
static float as_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#ifdef PIT_PARALLEL_CONV
void pit_exec_conv_int8(const pit_conv_q_t *p, int16_t *scratch) { board_conv_int8(p, scratch); }
#else
void pit_exec_conv_int8(const pit_conv_q_t *p, int16_t *scratch)
{
    pit_conv_int8(p, 0, p->cout, scratch);
}
#endif

/* Blob array reference: NULL with *ok = 0 when out of range or misaligned. */
static const void *blob_ref(const uint8_t *blob, uint32_t blob_size, uint32_t off, uint32_t len,
                            int required, int *ok)
{
    if (off == ABSENT) {
        if (required)
            *ok = 0;
        return NULL;
    }
    if ((off & 3u) || off > blob_size || len > blob_size - off) {
        *ok = 0;
        return NULL;
    }
    return blob + off;
}

static int check_layer(pit_model_t *m, pit_layer_t *L, const uint8_t *rec, const uint8_t *blob,
                       uint32_t blob_size, uint16_t version)
{
    const pit_tensor_t *x = &m->tensors[L->in0], *y = &m->tensors[L->out];
    const int q = x->dtype == PIT_DT_INT8;
    const uint32_t es = q ? 1u : 4u;
    int ok = 1;
    if (y->dtype != x->dtype)
        return PIT_E_MODEL_INVALID;
    if (q && ((int32_t)L->act_min < -128 || (int32_t)L->act_max > 127 ||
              (int32_t)L->act_min > (int32_t)L->act_max))
        return PIT_E_MODEL_INVALID;
    switch (L->op) {
    case PIT_OP_CONV:
    case PIT_OP_LINEAR: {
        if (L->op == PIT_OP_LINEAR) {
            L->k = 1;
            L->d = 1;
        }
        if (L->op == PIT_OP_LINEAR || version < 2) {
            L->s = 1;
            L->pad_left = L->op == PIT_OP_CONV ? (uint32_t)(L->k - 1) * L->d : 0u;
            L->pad_right = 0;
        }
        if (L->k < 1 || L->d < 1 || L->s < 1)
            return PIT_E_MODEL_INVALID;
        /* 64-bit: T + pads and (k-1)*d can exceed 16 bits */
        const int64_t span =
            (int64_t)x->T + L->pad_left + L->pad_right - (int64_t)(L->k - 1) * L->d;
        if (span < 1 || y->T != (span - 1) / L->s + 1)
            return PIT_E_MODEL_INVALID;
        const uint64_t wbytes = (uint64_t)y->C * L->k * x->C * es;
        if (wbytes > blob_size)
            return PIT_E_MODEL_INVALID;
        L->w = blob_ref(blob, blob_size, pit_rd32(rec + 16), (uint32_t)wbytes, 1, &ok);
        L->bias = blob_ref(blob, blob_size, pit_rd32(rec + 20), (uint32_t)y->C * 4u, 0, &ok);
        if (q) {
            L->mult = blob_ref(blob, blob_size, pit_rd32(rec + 24), (uint32_t)y->C * 4u, 1, &ok);
            L->shift = blob_ref(blob, blob_size, pit_rd32(rec + 28), (uint32_t)y->C * 4u, 1, &ok);
            for (uint16_t o = 0; ok && o < y->C; o++) {
                int32_t s = (int32_t)pit_rd32((const uint8_t *)(L->shift + o));
                if (s < -31 || s > 30)
                    ok = 0;
            }
        }
        break;
    }
    case PIT_OP_AVGPOOL:
    case PIT_OP_MAXPOOL:
        if (L->k < 1 || L->s < 1 || L->k > x->T || y->C != x->C ||
            y->T != (x->T - L->k) / L->s + 1 || (q && y->zp != x->zp))
            return PIT_E_MODEL_INVALID;
        break;
    case PIT_OP_ADD: {
        if (L->in1 >= m->n_tensors)
            return PIT_E_MODEL_INVALID;
        const pit_tensor_t *b = &m->tensors[L->in1];
        if (b->dtype != x->dtype || b->C != x->C || b->T != x->T || y->C != x->C ||
            y->T != x->T)
            return PIT_E_MODEL_INVALID;
        if (q) {
            L->mult = blob_ref(blob, blob_size, pit_rd32(rec + 24), 28u, 1, &ok);
            if (ok) {
                const uint8_t *pp = (const uint8_t *)L->mult;
                int32_t ls = (int32_t)pit_rd32(pp);
                for (int i = 2; i <= 6; i += 2) {
                    int32_t s = (int32_t)pit_rd32(pp + 4 * i);
                    if (s < -31 || s > 30)
                        ok = 0;
                }
                if (ls < 0 || ls > 24)
                    ok = 0;
            }
        }
        break;
    }
    case PIT_OP_FLATTEN:
        if (y->T != 1 || (uint32_t)y->C != (uint32_t)x->C * x->T || (q && y->zp != x->zp))
            return PIT_E_MODEL_INVALID;
        break;
    default:
        return PIT_E_UNSUPPORTED;
    }
    return ok ? PIT_OK : PIT_E_MODEL_INVALID;
}

static int overlaps(const pit_tensor_t *a, const pit_tensor_t *b)
{
    return a->first <= b->last && b->first <= a->last;
}

int pit_model_load(pit_model_t *m, const uint8_t *img, uint32_t size, uint8_t *arena,
                   uint32_t arena_cap, uint16_t *detail)
{
    m->loaded = 0;
    *detail = 0;
    if (size < HDR_BYTES + 4u)
        return PIT_E_MODEL_INVALID;
    if (memcmp(img, "PITM", 4) != 0)
        return PIT_E_MODEL_MAGIC;
    const uint16_t version = pit_rd16(img + 4);
    if (version < PIT_MODEL_VERSION_MIN || version > PIT_MODEL_VERSION)
        return PIT_E_MODEL_VERSION;
    if (pit_rd16(img + 6) != HDR_BYTES || pit_rd32(img + 8) != size ||
        pit_crc32(0, img, size - 4u) != pit_rd32(img + size - 4u))
        return PIT_E_MODEL_INVALID;
    const uint32_t nt = pit_rd16(img + 12), nl = pit_rd16(img + 14);
    if (nt == 0 || nl == 0)
        return PIT_E_MODEL_INVALID;
    if (nt > PIT_MAX_TENSORS || nl > PIT_MAX_LAYERS)
        return PIT_E_UNSUPPORTED;
    const uint32_t blob_off = pit_rd32(img + 20), blob_size = pit_rd32(img + 24);
    const uint32_t tables_end = HDR_BYTES + nt * TENSOR_BYTES + nl * LAYER_BYTES;
    if ((blob_off & 3u) || blob_off < tables_end || blob_off > size - 4u ||
        blob_size > size - 4u - blob_off)
        return PIT_E_MODEL_INVALID;
    m->n_tensors = (uint16_t)nt;
    m->n_layers = (uint16_t)nl;
    m->input = pit_rd16(img + 16);
    m->output = pit_rd16(img + 18);
    if (m->input >= nt || m->output >= nt || m->input == m->output)
        return PIT_E_MODEL_INVALID;
    const uint8_t *blob = img + blob_off;

    for (uint32_t i = 0; i < nt; i++) {
        const uint8_t *r = img + HDR_BYTES + i * TENSOR_BYTES;
        pit_tensor_t *t = &m->tensors[i];
        *detail = (uint16_t)i;
        t->dtype = r[0];
        t->C = pit_rd16(r + 2);
        t->T = pit_rd16(r + 4);
        t->zp = (int32_t)pit_rd32(r + 12);
        if (t->dtype > PIT_DT_F32 || t->C == 0 || t->T == 0 ||
            (t->dtype == PIT_DT_INT8 && (t->zp < -128 || t->zp > 127)))
            return PIT_E_MODEL_INVALID;
        const uint64_t bytes = (uint64_t)t->C * t->T * (t->dtype == PIT_DT_INT8 ? 1u : 4u);
        if (bytes > PIT_MAX_TENSOR_BYTES)
            return PIT_E_NO_MEMORY; /* also keeps the planner's sums inside 32 bits */
        t->bytes = (uint32_t)bytes;
        t->first = (int16_t)(i == m->input ? -1 : 0x7FFF); /* 0x7FFF: not produced yet */
        t->last = t->first;
    }

    uint32_t scratch = 0;
    for (uint32_t i = 0; i < nl; i++) {
        const uint8_t *r = img + HDR_BYTES + nt * TENSOR_BYTES + i * LAYER_BYTES;
        pit_layer_t *L = &m->layers[i];
        *detail = (uint16_t)i;
        memset(L, 0, sizeof *L);
        L->op = r[0];
        L->in0 = pit_rd16(r + 2);
        L->in1 = pit_rd16(r + 4);
        L->out = pit_rd16(r + 6);
        L->k = pit_rd16(r + 8);
        L->d = pit_rd16(r + 10);
        L->s = pit_rd16(r + 12);
        L->act_min = pit_rd32(r + 32);
        L->act_max = pit_rd32(r + 36);
        L->pad_left = pit_rd32(r + 40);
        L->pad_right = pit_rd32(r + 44);
        if (L->in0 >= nt || L->out >= nt)
            return PIT_E_MODEL_INVALID;
        pit_tensor_t *x = &m->tensors[L->in0], *y = &m->tensors[L->out];
        if (x->first == 0x7FFF || y->first != 0x7FFF || L->out == m->input)
            return PIT_E_MODEL_INVALID; /* read before written, or written twice */
        if (L->op == PIT_OP_ADD && (L->in1 >= nt || m->tensors[L->in1].first == 0x7FFF))
            return PIT_E_MODEL_INVALID;
        int st = check_layer(m, L, r, blob, blob_size, version);
        if (st != PIT_OK)
            return st;
        x->last = (int16_t)i;
        if (L->op == PIT_OP_ADD)
            m->tensors[L->in1].last = (int16_t)i;
        y->first = y->last = (int16_t)i;
        if (L->op == PIT_OP_CONV || L->op == PIT_OP_LINEAR) {
            /* 64-bit: 8 * 65535 * 65535 does not fit size_t on a 32-bit core */
            const uint64_t sb = (uint64_t)x->C * L->k * (x->dtype == PIT_DT_INT8 ? 4u : 8u);
            if (sb > PIT_MAX_TENSOR_BYTES)
                return PIT_E_NO_MEMORY;
            if (sb > scratch)
                scratch = (uint32_t)sb;
        }
    }
    if (m->tensors[m->output].first == 0x7FFF) {
        *detail = m->output;
        return PIT_E_MODEL_INVALID;
    }
    m->tensors[m->output].last = (int16_t)nl;
    m->tensors[m->input].last = (int16_t)nl; /* kept intact: a repeated RUN reads it again */

    /* First-fit placement in production order, avoiding live-overlapping tensors. */
    uint32_t top = 0;
    for (uint32_t i = 0; i < nt; i++)
        m->tensors[i].offset = ABSENT;
    for (int pass = -1; pass < (int)nl; pass++) {
        uint16_t id = pass < 0 ? m->input : m->layers[pass].out;
        pit_tensor_t *t = &m->tensors[id];
        uint32_t cand = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (uint32_t j = 0; j < nt; j++) {
                const pit_tensor_t *o = &m->tensors[j];
                if (j == id || o->offset == ABSENT || !overlaps(t, o))
                    continue;
                if (cand < o->offset + o->bytes && o->offset < cand + t->bytes) {
                    cand = align4(o->offset + o->bytes);
                    moved = 1;
                }
            }
        }
        t->offset = cand;
        if (cand + t->bytes > top)
            top = cand + t->bytes;
    }
    m->scratch_offset = align4(top);
    m->arena_bytes = m->scratch_offset + scratch;
    if (m->arena_bytes > arena_cap) {
        *detail = 0;
        return PIT_E_NO_MEMORY;
    }
    m->arena = arena;
    m->loaded = 1;
    *detail = 0;
    return PIT_OK;
}

uint8_t *pit_model_tensor(pit_model_t *m, uint16_t id) { return m->arena + m->tensors[id].offset; }

static void run_layer(pit_model_t *m, const pit_layer_t *L)
{
    const pit_tensor_t *x = &m->tensors[L->in0], *y = &m->tensors[L->out];
    void *xp = pit_model_tensor(m, L->in0), *yp = pit_model_tensor(m, L->out);
    void *scratch = m->arena + m->scratch_offset;
    const int q = x->dtype == PIT_DT_INT8;
    switch (L->op) {
    case PIT_OP_CONV:
    case PIT_OP_LINEAR:
        if (q) {
            pit_conv_q_t p = {.x = xp, .y = yp, .w = L->w, .bias = L->bias, .mult = L->mult,
                              .shift = L->shift, .T = x->T, .cin = x->C, .cout = y->C,
                              .k = L->k, .d = L->d, .in_zp = x->zp, .out_zp = y->zp,
                              .act_min = (int32_t)L->act_min, .act_max = (int32_t)L->act_max,
                              .stride = L->s, .pad_left = L->pad_left, .T_out = y->T};
            pit_exec_conv_int8(&p, scratch);
        } else {
            pit_conv_f32_t p = {.x = xp, .y = yp, .w = L->w, .bias = L->bias, .T = x->T,
                                .cin = x->C, .cout = y->C, .k = L->k, .d = L->d,
                                .act_min = as_float(L->act_min),
                                .act_max = as_float(L->act_max), .stride = L->s,
                                .pad_left = L->pad_left, .T_out = y->T};
            pit_conv_f32(&p, 0, y->C, scratch);
        }
        break;
    case PIT_OP_AVGPOOL:
        if (q)
            pit_avgpool_int8(xp, yp, x->T, x->C, L->k, L->s, (int32_t)L->act_min,
                             (int32_t)L->act_max);
        else
            pit_avgpool_f32(xp, yp, x->T, x->C, L->k, L->s);
        break;
    case PIT_OP_MAXPOOL:
        if (q)
            pit_maxpool_int8(xp, yp, x->T, x->C, L->k, L->s, (int32_t)L->act_min,
                             (int32_t)L->act_max);
        else
            pit_maxpool_f32(xp, yp, x->T, x->C, L->k, L->s);
        break;
    case PIT_OP_ADD: {
        const void *bp = pit_model_tensor(m, L->in1);
        const size_t n = (size_t)y->C * y->T;
        if (q) {
            const uint8_t *pp = (const uint8_t *)L->mult;
            pit_add_q_t a = {x->zp, m->tensors[L->in1].zp, y->zp,
                             (int32_t)pit_rd32(pp), (int32_t)pit_rd32(pp + 4),
                             (int32_t)pit_rd32(pp + 8), (int32_t)pit_rd32(pp + 12),
                             (int32_t)pit_rd32(pp + 16), (int32_t)pit_rd32(pp + 20),
                             (int32_t)pit_rd32(pp + 24), (int32_t)L->act_min,
                             (int32_t)L->act_max};
            pit_add_int8(xp, bp, yp, n, &a);
        } else {
            pit_add_f32(xp, bp, yp, n, as_float(L->act_min), as_float(L->act_max));
        }
        break;
    }
    case PIT_OP_FLATTEN:
        memcpy(yp, xp, y->bytes); /* [T][C] is already the flat order */
        break;
    default:
        break;
    }
}

void pit_model_run(pit_model_t *m, uint32_t *layer_ticks, uint64_t *total_ticks)
{
    board_timestamp();
    const uint64_t start = board_ticks();
    uint64_t prev = start;
    for (uint16_t i = 0; i < m->n_layers; i++) {
        run_layer(m, &m->layers[i]);
        if (layer_ticks) {
            uint64_t now = board_ticks(), dt = now - prev;
            layer_ticks[i] = dt > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)dt;
            prev = now;
        }
    }
    *total_ticks = board_ticks() - start;
    board_timestamp();
}
