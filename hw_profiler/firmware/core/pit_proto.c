#include "pit_proto.h"

#include <string.h>

#include "pit_board.h"
#include "pit_crc.h"
#include "pit_kernels.h"
#include "pit_model.h"

enum { ST_HUNT0, ST_HUNT1, ST_LEN0, ST_LEN1, ST_TYPE, ST_SEQ, ST_PAYLOAD, ST_CRC0, ST_CRC1 };

void pit_parser_init(pit_parser_t *p, uint8_t *payload_buf)
{
    p->payload = payload_buf;
    pit_parser_reset(p);
}

void pit_parser_reset(pit_parser_t *p) { p->state = ST_HUNT0; }

int pit_parser_busy(const pit_parser_t *p) { return p->state > ST_HUNT1; }

int pit_parser_feed(pit_parser_t *p, uint8_t b)
{
    switch (p->state) {
    case ST_HUNT0:
        if (b == 0xA5)
            p->state = ST_HUNT1;
        break;
    case ST_HUNT1:
        p->state = b == 0x5A ? ST_LEN0 : (b == 0xA5 ? ST_HUNT1 : ST_HUNT0);
        break;
    case ST_LEN0:
        p->len = b;
        p->crc = pit_crc16_update(0xFFFFu, b);
        p->state = ST_LEN1;
        break;
    case ST_LEN1:
        p->len |= (uint16_t)(b << 8);
        p->crc = pit_crc16_update(p->crc, b);
        if (p->len > PIT_MAX_PAYLOAD) {
            p->state = ST_HUNT0;
            return PIT_EV_TOO_LONG;
        }
        p->state = ST_TYPE;
        break;
    case ST_TYPE:
        p->type = b;
        p->crc = pit_crc16_update(p->crc, b);
        p->state = ST_SEQ;
        break;
    case ST_SEQ:
        p->seq = b;
        p->crc = pit_crc16_update(p->crc, b);
        p->pos = 0;
        p->state = p->len ? ST_PAYLOAD : ST_CRC0;
        break;
    case ST_PAYLOAD:
        p->payload[p->pos++] = b;
        p->crc = pit_crc16_update(p->crc, b);
        if (p->pos == p->len)
            p->state = ST_CRC0;
        break;
    case ST_CRC0:
        p->crc_rx = b;
        p->state = ST_CRC1;
        break;
    default: /* ST_CRC1 */
        p->crc_rx |= (uint16_t)(b << 8);
        p->state = ST_HUNT0;
        return p->crc_rx == p->crc ? PIT_EV_FRAME : PIT_EV_BAD_CRC;
    }
    return PIT_EV_NONE;
}

/* ---- state ---- */

/* The model pool: an uploaded image followed by the activation arena, or only the arena
 * for a model in flash. A port may place it in its own RAM region (PIT_POOL_SECTION). */
#ifdef PIT_POOL_SECTION
#define POOL_ATTR __attribute__((section(PIT_POOL_SECTION)))
#else
#define POOL_ATTR
#endif
static union {
    uint64_t align;
    uint8_t bytes[PIT_POOL_SIZE];
} g_pool POOL_ATTR;
static uint8_t g_rx[PIT_MAX_PAYLOAD];
static uint8_t g_tx[PIT_MAX_PAYLOAD];
static pit_model_t g_model;
static struct {
    int active;
    uint32_t total, crc;
} g_load;
static uint32_t g_image_size; /* bytes of the pool holding the image (loaded or loading) */

static uint32_t align8(uint32_t v) { return (v + 7u) & ~7u; }

static uint32_t pool_used(void)
{
    if (g_model.loaded)
        return align8(g_image_size) + g_model.arena_bytes;
    return g_load.active ? align8(g_load.total) : 0u;
}

void pit_send_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len)
{
    uint8_t hdr[6] = {0xA5, 0x5A, (uint8_t)len, (uint8_t)(len >> 8), type, seq};
    uint16_t crc = 0xFFFFu;
    for (int i = 2; i < 6; i++)
        crc = pit_crc16_update(crc, hdr[i]);
    for (uint16_t i = 0; i < len; i++)
        crc = pit_crc16_update(crc, payload[i]);
    uint8_t tail[2] = {(uint8_t)crc, (uint8_t)(crc >> 8)};
    board_write(hdr, 6);
    if (len)
        board_write(payload, len);
    board_write(tail, 2);
}

static void send_error(uint8_t code, uint8_t req_type, uint8_t seq, uint16_t detail)
{
    uint8_t e[4] = {code, req_type, (uint8_t)detail, (uint8_t)(detail >> 8)};
    pit_send_frame(PIT_MSG_ERROR, seq, e, 4);
}

/* ---- the model image in flash ---- */

/* Size of the valid model image in the board's flash slot (0: none), and its CRC-32 (the
 * whole image, as LOAD_BEGIN's). Flash does not change while the firmware runs, so it
 * is checked once. */
static uint32_t g_flash_size, g_flash_crc;
static int g_flash_checked;

static void check_flash_image(void)
{
    if (g_flash_checked)
        return;
    g_flash_checked = 1;
    const pit_board_info_t *bi = board_info();
    const uint8_t *img = bi->model_flash;
    if (!img || bi->model_flash_bytes < 36u || memcmp(img, "PITM", 4) != 0)
        return;
    const uint32_t total = pit_rd32(img + 8);
    if (total < 36u || total > bi->model_flash_bytes ||
        pit_crc32(0, img, total - 4u) != pit_rd32(img + total - 4u))
        return;
    g_flash_size = total;
    /* The image's own checksum (its trailer, just verified): a whole-image CRC would be
     * the same constant for every image that ends with its CRC. */
    g_flash_crc = pit_rd32(img + total - 4u);
}

/* ---- INFO ---- */

static uint16_t handle_info(uint8_t *out)
{
    const pit_board_info_t *bi = board_info();
    size_t n = strlen(bi->name);
    if (n > 64)
        n = 64;
    pit_wr16(out + 0, PIT_PROTOCOL_VERSION);
    pit_wr16(out + 2, PIT_FIRMWARE_VERSION);
    pit_wr32(out + 4, bi->core_clock_hz);
    pit_wr32(out + 8, bi->ticks_per_second);
    out[12] = bi->timer_kind;
    out[13] = (uint8_t)((g_model.loaded ? 1u : 0u) | (bi->model_flash ? 2u : 0u));
    pit_wr16(out + 14, PIT_MAX_PAYLOAD);
    pit_wr32(out + 16, PIT_POOL_SIZE);
    pit_wr32(out + 20, PIT_POOL_SIZE - pool_used());
    pit_wr32(out + 24, bi->flash_free_bytes);
    out[28] = (uint8_t)n;
    memcpy(out + 29, bi->name, n);
    uint8_t *tail = out + 29 + n;
    check_flash_image();
    pit_wr16(tail + 0, PIT_MODEL_VERSION);
    pit_wr32(tail + 2, (uint32_t)(uintptr_t)bi->model_flash);
    pit_wr32(tail + 6, bi->model_flash_bytes);
    pit_wr32(tail + 10, g_flash_size);
    pit_wr32(tail + 14, g_flash_crc);
    return (uint16_t)(29 + n + 18);
}

/* ---- BENCH_LAYER ---- */

static uint32_t g_rng;
static uint32_t rng_next(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}
static void fill_i8(int8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (int8_t)(rng_next() >> 24);
}
static void fill_f32(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((int32_t)((rng_next() >> 16) & 0xFFFFu) - 32768) / 32768.0f;
}

/* Bump allocator over the free part of the pool. */
static uint8_t *g_bump;
static uint8_t *g_bump_end;
static void *take(uint64_t n)
{
    /* 64-bit sizes: T * C * 4 can exceed 32 bits on a 32-bit core */
    n = (n + 7u) & ~(uint64_t)7u;
    if (n > (uint64_t)(g_bump_end - g_bump))
        return NULL;
    void *p = g_bump;
    g_bump += (size_t)n;
    return p;
}

static int handle_bench(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t *out_len)
{
    if (len != 24)
        return PIT_E_BAD_LENGTH;
    const uint8_t op = in[0], dt = in[1];
    const uint16_t cin = pit_rd16(in + 2), cout_req = pit_rd16(in + 4);
    const uint16_t k = pit_rd16(in + 6), d = pit_rd16(in + 8), s = pit_rd16(in + 10);
    const uint16_t T = pit_rd16(in + 12), warm = pit_rd16(in + 14), reps = pit_rd16(in + 16);
    const uint32_t seed = pit_rd32(in + 20);
    if (dt > PIT_DT_F32 || cin == 0 || T == 0 || reps == 0 ||
        reps > (PIT_MAX_PAYLOAD - 16) / 4)
        return PIT_E_BAD_ARG;
    uint16_t cout = cin, To = T, cs = 1;
    uint32_t pl = 0;
    uint64_t macs;
    switch (op) {
    case PIT_OP_CONV:
    case PIT_OP_LINEAR:
        if (cout_req == 0 || (op == PIT_OP_CONV && (k == 0 || d == 0)))
            return PIT_E_BAD_ARG;
        cout = cout_req;
        if (op == PIT_OP_CONV) {
            /* padding (k-1)*d on the left: stride 1 keeps T, stride s gives ceil(T/s) */
            pl = (uint32_t)(k - 1) * d;
            cs = s > 1 ? s : 1;
            To = (uint16_t)((T - 1) / cs + 1);
        }
        macs = (uint64_t)To * cout * cin * (op == PIT_OP_CONV ? k : 1u);
        break;
    case PIT_OP_AVGPOOL:
    case PIT_OP_MAXPOOL:
        if (k == 0 || s == 0 || k > T)
            return PIT_E_BAD_ARG;
        To = (uint16_t)((T - k) / s + 1);
        macs = (uint64_t)To * cin * k;
        break;
    case PIT_OP_ADD:
        macs = (uint64_t)T * cin;
        break;
    default:
        return PIT_E_BAD_ARG;
    }
    const uint16_t kk = op == PIT_OP_CONV ? k : 1, dd = op == PIT_OP_CONV ? d : 1;
    const size_t es = dt == PIT_DT_INT8 ? 1u : 4u;
    g_bump = g_pool.bytes + align8(pool_used());
    g_bump_end = g_pool.bytes + PIT_POOL_SIZE;
    g_rng = seed ? seed : 1u;
    void *x = take((uint64_t)T * cin * es);
    void *y = take((uint64_t)To * cout * es);
    if (!x || !y)
        return PIT_E_NO_MEMORY;
    void *x2 = NULL, *w = NULL, *bias = NULL, *scratch = NULL;
    int32_t *mult = NULL, *shift = NULL;
    if (op == PIT_OP_ADD && !(x2 = take((uint64_t)T * cin * es)))
        return PIT_E_NO_MEMORY;
    int w_in_flash = 0;
    if (op == PIT_OP_CONV || op == PIT_OP_LINEAR) {
        const uint64_t wbytes = (uint64_t)cout * kk * cin * es;
        bias = take((uint64_t)cout * 4u);
        scratch = take((uint64_t)cin * kk * (es == 1 ? 4u : 8u));
        if (es == 1) {
            mult = take((uint64_t)cout * 4u);
            shift = take((uint64_t)cout * 4u);
        }
        w = take(wbytes);
        /* Weights too large for RAM are read from the flash slot, as a deployed model's
         * are: whatever it holds serves as weights (timing does not depend on values, the
         * output CRC then does). */
        const pit_board_info_t *bi = board_info();
        if (!w && bi->model_flash && wbytes <= bi->model_flash_bytes) {
            w = (void *)(uintptr_t)bi->model_flash;
            w_in_flash = 1;
        }
        if (!w || !bias || !scratch || (es == 1 && (!mult || !shift)))
            return PIT_E_NO_MEMORY;
    }
    /* Deterministic contents: identical on every port for a given seed. */
    if (es == 1) {
        fill_i8(x, (size_t)T * cin);
        if (x2)
            fill_i8(x2, (size_t)T * cin);
        if (w) {
            if (!w_in_flash)
                fill_i8(w, (size_t)cout * kk * cin);
            for (uint16_t o = 0; o < cout; o++) {
                ((int32_t *)bias)[o] = (int32_t)((rng_next() >> 16) & 0x3FFu) - 512;
                mult[o] = 0x40000000;
                shift[o] = -7;
            }
        }
    } else {
        fill_f32(x, (size_t)T * cin);
        if (x2)
            fill_f32(x2, (size_t)T * cin);
        if (w) {
            if (!w_in_flash)
                fill_f32(w, (size_t)cout * kk * cin);
            fill_f32(bias, cout);
        }
    }
    pit_conv_q_t cq = {.x = x, .y = y, .w = w, .bias = bias, .mult = mult, .shift = shift,
                       .T = T, .cin = cin, .cout = cout, .k = kk, .d = dd, .in_zp = -3,
                       .out_zp = 2, .act_min = -128, .act_max = 127, .stride = cs,
                       .pad_left = pl, .T_out = To};
    pit_conv_f32_t cf = {.x = x, .y = y, .w = w, .bias = bias, .T = T, .cin = cin,
                         .cout = cout, .k = kk, .d = dd, .act_min = -1e30f, .act_max = 1e30f,
                         .stride = cs, .pad_left = pl, .T_out = To};
    pit_add_q_t aq = {-3, 5, 2, 20, 0x40000000, -1, 0x50000000, -1, 0x60000000, -19, -128, 127};
    const uint32_t total = (uint32_t)warm + reps;
    uint8_t *ticks_out = out + 16;
    for (uint32_t r = 0; r < total; r++) {
        if (r == warm)
            board_timestamp();
        const uint64_t t0 = board_ticks();
        switch (op) {
        case PIT_OP_CONV:
        case PIT_OP_LINEAR:
            if (es == 1)
                pit_exec_conv_int8(&cq, scratch);
            else
                pit_conv_f32(&cf, 0, cout, scratch);
            break;
        case PIT_OP_AVGPOOL:
            if (es == 1)
                pit_avgpool_int8(x, y, T, cin, k, s, -128, 127);
            else
                pit_avgpool_f32(x, y, T, cin, k, s);
            break;
        case PIT_OP_MAXPOOL:
            if (es == 1)
                pit_maxpool_int8(x, y, T, cin, k, s, -128, 127);
            else
                pit_maxpool_f32(x, y, T, cin, k, s);
            break;
        default:
            if (es == 1)
                pit_add_int8(x, x2, y, (size_t)T * cin, &aq);
            else
                pit_add_f32(x, x2, y, (size_t)T * cin, -1e30f, 1e30f);
            break;
        }
        const uint64_t dtk = board_ticks() - t0;
        if (r >= warm)
            pit_wr32(ticks_out + 4u * (r - warm), dtk > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)dtk);
    }
    board_timestamp();
    pit_wr32(out + 0, (uint32_t)macs);
    pit_wr32(out + 4, (uint32_t)(macs >> 32));
    pit_wr32(out + 8, pit_crc32(0, y, (size_t)To * cout * es));
    pit_wr16(out + 12, reps);
    pit_wr16(out + 14, 0);
    *out_len = (uint16_t)(16u + 4u * reps);
    return PIT_OK;
}

/* ---- model loading and running ---- */

static void drop_model(void)
{
    g_model.loaded = 0;
    g_load.active = 0;
    g_image_size = 0;
}

static int handle_load_begin(const uint8_t *in, uint16_t len)
{
    if (len != 8)
        return PIT_E_BAD_LENGTH;
    drop_model();
    const uint32_t total = pit_rd32(in);
    if (total == 0)
        return PIT_E_BAD_ARG;
    if (total > PIT_POOL_SIZE)
        return PIT_E_NO_MEMORY;
    g_load.total = total;
    g_load.crc = pit_rd32(in + 4);
    g_load.active = 1;
    memset(g_pool.bytes, 0, total);
    return PIT_OK;
}

static int handle_load_chunk(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t *out_len)
{
    if (len < 5)
        return PIT_E_BAD_LENGTH;
    const uint32_t off = pit_rd32(in), n = len - 4u;
    if (!g_load.active || off > g_load.total || n > g_load.total - off)
        return PIT_E_LOAD_STATE;
    memcpy(g_pool.bytes + off, in + 4, n);
    pit_wr32(out, off + n);
    *out_len = 4;
    return PIT_OK;
}

static void put_desc(uint8_t *p, const pit_tensor_t *t)
{
    p[0] = t->dtype;
    pit_wr16(p + 1, t->C);
    pit_wr16(p + 3, t->T);
}

static int load_reply(uint8_t *out, uint16_t *out_len);

static int handle_load_end(uint16_t len, uint8_t *out, uint16_t *out_len, uint16_t *detail)
{
    if (len != 0)
        return PIT_E_BAD_LENGTH;
    if (!g_load.active)
        return PIT_E_LOAD_STATE;
    const uint32_t total = g_load.total;
    g_load.active = 0;
    if (pit_crc32(0, g_pool.bytes, total) != g_load.crc)
        return PIT_E_IMAGE_CRC;
    const uint32_t arena_at = align8(total);
    if (arena_at > PIT_POOL_SIZE)
        return PIT_E_NO_MEMORY;
    int st = pit_model_load(&g_model, g_pool.bytes, total, g_pool.bytes + arena_at,
                            PIT_POOL_SIZE - arena_at, detail);
    if (st != PIT_OK) {
        drop_model();
        return st;
    }
    g_image_size = total;
    return load_reply(out, out_len);
}

/* LOAD_END and LOAD_FLASH answer alike: what was planned. */
static int load_reply(uint8_t *out, uint16_t *out_len)
{
    pit_wr16(out + 0, g_model.n_layers);
    pit_wr16(out + 2, g_model.n_tensors);
    pit_wr32(out + 4, g_model.arena_bytes);
    pit_wr32(out + 8, PIT_POOL_SIZE - pool_used());
    put_desc(out + 12, &g_model.tensors[g_model.input]);
    put_desc(out + 17, &g_model.tensors[g_model.output]);
    *out_len = 22;
    return PIT_OK;
}

static int handle_load_flash(uint16_t len, uint8_t *out, uint16_t *out_len, uint16_t *detail)
{
    if (len != 0)
        return PIT_E_BAD_LENGTH;
    drop_model();
    check_flash_image();
    if (g_flash_size == 0)
        return PIT_E_NO_MODEL;
    int st = pit_model_load(&g_model, board_info()->model_flash, g_flash_size, g_pool.bytes,
                            PIT_POOL_SIZE, detail);
    if (st != PIT_OK) {
        drop_model();
        return st;
    }
    return load_reply(out, out_len);
}

/* Input and output tensors larger than one frame go in chunks: INPUT_CHUNK writes into
 * the input tensor (which the arena keeps intact through RUN, so a repeated RUN computes
 * the same), OUTPUT_CHUNK reads the output tensor after RUN. */
static int tensor_range(uint16_t id, uint32_t off, uint32_t n, uint8_t **at)
{
    if (!g_model.loaded)
        return PIT_E_NO_MODEL;
    const pit_tensor_t *t = &g_model.tensors[id];
    if (n == 0 || off > t->bytes || n > t->bytes - off)
        return PIT_E_BAD_ARG;
    *at = pit_model_tensor(&g_model, id) + off;
    return PIT_OK;
}

static int handle_input_chunk(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t *out_len)
{
    if (len < 5)
        return PIT_E_BAD_LENGTH;
    const uint32_t off = pit_rd32(in), n = len - 4u;
    uint8_t *at;
    int st = tensor_range(g_model.input, off, n, &at);
    if (st != PIT_OK)
        return st;
    memcpy(at, in + 4, n);
    pit_wr32(out, off + n);
    *out_len = 4;
    return PIT_OK;
}

static int handle_output_chunk(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t *out_len)
{
    if (len != 6)
        return PIT_E_BAD_LENGTH;
    const uint32_t off = pit_rd32(in), n = pit_rd16(in + 4);
    if (n > PIT_MAX_PAYLOAD)
        return PIT_E_TOO_LONG;
    uint8_t *at;
    int st = tensor_range(g_model.output, off, n, &at);
    if (st != PIT_OK)
        return st;
    memcpy(out, at, n);
    *out_len = (uint16_t)n;
    return PIT_OK;
}

static int handle_run(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t *out_len)
{
    if (!g_model.loaded)
        return PIT_E_NO_MODEL;
    if (len < 2)
        return PIT_E_BAD_LENGTH;
    const pit_tensor_t *ti = &g_model.tensors[g_model.input];
    const pit_tensor_t *to = &g_model.tensors[g_model.output];
    const int per_layer = in[0] & 1u, staged = in[0] & 2u, keep_out = in[0] & 4u;
    const uint32_t n_ticks = per_layer ? g_model.n_layers : 0u;
    const uint32_t out_bytes = keep_out ? 0u : to->bytes;
    if ((!staged && ti->bytes + 2u > PIT_MAX_PAYLOAD) ||
        12u + 4u * n_ticks + out_bytes > PIT_MAX_PAYLOAD)
        return PIT_E_TOO_LONG;
    if (len != (staged ? 2u : ti->bytes + 2u))
        return PIT_E_BAD_LENGTH;
    if (!staged)
        memcpy(pit_model_tensor(&g_model, g_model.input), in + 2, ti->bytes);
    uint64_t total;
    uint32_t layer_ticks[PIT_MAX_LAYERS];
    pit_model_run(&g_model, per_layer ? layer_ticks : NULL, &total);
    pit_wr32(out + 0, (uint32_t)total);
    pit_wr32(out + 4, (uint32_t)(total >> 32));
    pit_wr16(out + 8, (uint16_t)n_ticks);
    pit_wr16(out + 10, 0);
    for (uint32_t i = 0; i < n_ticks; i++)
        pit_wr32(out + 12 + 4 * i, layer_ticks[i]);
    memcpy(out + 12 + 4 * n_ticks, pit_model_tensor(&g_model, g_model.output), out_bytes);
    *out_len = (uint16_t)(12u + 4u * n_ticks + out_bytes);
    return PIT_OK;
}

void pit_handle_frame(uint8_t type, uint8_t seq, const uint8_t *in, uint16_t len)
{
    uint16_t out_len = 0, detail = 0;
    int st;
    switch (type) {
    case PIT_MSG_INFO:
        st = len ? PIT_E_BAD_LENGTH : PIT_OK;
        if (st == PIT_OK)
            out_len = handle_info(g_tx);
        break;
    case PIT_MSG_BENCH:
        st = handle_bench(in, len, g_tx, &out_len);
        break;
    case PIT_MSG_LOAD_BEGIN:
        st = handle_load_begin(in, len);
        break;
    case PIT_MSG_LOAD_CHUNK:
        st = handle_load_chunk(in, len, g_tx, &out_len);
        break;
    case PIT_MSG_LOAD_END:
        st = handle_load_end(len, g_tx, &out_len, &detail);
        break;
    case PIT_MSG_LOAD_FLASH:
        st = handle_load_flash(len, g_tx, &out_len, &detail);
        break;
    case PIT_MSG_RUN:
        st = handle_run(in, len, g_tx, &out_len);
        break;
    case PIT_MSG_INPUT_CHUNK:
        st = handle_input_chunk(in, len, g_tx, &out_len);
        break;
    case PIT_MSG_OUTPUT_CHUNK:
        st = handle_output_chunk(in, len, g_tx, &out_len);
        break;
    case PIT_MSG_RESET:
        st = len ? PIT_E_BAD_LENGTH : PIT_OK;
        if (st == PIT_OK) {
            pit_send_frame(PIT_MSG_RESET | 0x80, seq, g_tx, 0);
            drop_model();
            return;
        }
        break;
    default:
        st = PIT_E_UNKNOWN_TYPE;
        break;
    }
    if (st == PIT_OK)
        pit_send_frame((uint8_t)(type | 0x80u), seq, g_tx, out_len);
    else
        send_error((uint8_t)st, type, seq, detail);
}

void pit_serve_forever(void)
{
    static pit_parser_t parser;
    pit_parser_init(&parser, g_rx);
    for (;;) {
        const int busy = pit_parser_busy(&parser);
        int c = board_getc(busy ? PIT_BYTE_TIMEOUT_MS : 1000u);
        if (c < 0) {
            if (busy) { /* byte timeout: drop the partial frame and say so, so the host
                         * resends now rather than after its reply timeout */
                pit_parser_reset(&parser);
                send_error(PIT_E_BAD_CRC, parser.type, parser.seq, 0);
            }
            continue;
        }
        switch (pit_parser_feed(&parser, (uint8_t)c)) {
        case PIT_EV_FRAME:
            pit_handle_frame(parser.type, parser.seq, parser.payload, parser.len);
            break;
        case PIT_EV_BAD_CRC:
            send_error(PIT_E_BAD_CRC, parser.type, parser.seq, 0);
            break;
        case PIT_EV_TOO_LONG:
            send_error(PIT_E_TOO_LONG, 0, 0, 0);
            break;
        default:
            break;
        }
    }
}
