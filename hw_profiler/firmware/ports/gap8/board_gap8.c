/* GAP8 port (PMSIS, GAP SDK). Not built or run in this repository's CI: it needs the GAP
 * SDK toolchain (make -C firmware gap8 with the SDK's environment sourced).
 *
 * - Serial: the fabric-controller UART (115200 8N1), byte reads with a timeout.
 * - Ticks: FC cycle counter (pi_perf, PI_PERF_CYCLES) extended to 64 bits in software
 *   (pit_extend_ticks). Waiting for input polls the clock between pi_yield() calls, so
 *   the byte timeout holds without an alarm.
 * - Int8 conv: output channels split over the cluster's cores with pit_split_channels()
 *   (portable core, tested on the host); each core gathers its own input columns into its
 *   slice of L1. Weights and activations stay in L2 (no DMA tiling in this version). */
#include "pmsis.h"

#include <string.h>

#include "pit_board.h"
#include "pit_kernels.h"
#include "pit_model.h"
#include "pit_proto.h"

#ifndef GAP8_FREQ_HZ
#define GAP8_FREQ_HZ 50000000u /* FC default clock */
#endif
#define CL_SCRATCH_BYTES (8u * 4096u) /* L1 column buffers, 8 cores */

static struct pi_device g_uart;
static struct pi_device g_cluster;
static int8_t *g_l1_scratch;
static pit_board_info_t g_info = {"gap8", GAP8_FREQ_HZ, GAP8_FREQ_HZ, PIT_TIMER_CYCLES, 0u,
                                  NULL, 0u};

const pit_board_info_t *board_info(void) { return &g_info; }

/* No timestamp pin is wired on the GAPuino yet. */
void board_timestamp(void) {}

static pit_tick_ext_t g_ticks;
uint64_t board_ticks(void) { return pit_extend_ticks(&g_ticks, pi_perf_read(PI_PERF_CYCLES)); }

void board_init(void)
{
    struct pi_uart_conf uconf;
    pi_uart_conf_init(&uconf);
    uconf.baudrate_bps = 115200;
    uconf.enable_tx = 1;
    uconf.enable_rx = 1;
    pi_open_from_conf(&g_uart, &uconf);
    if (pi_uart_open(&g_uart))
        pmsis_exit(-1);

    struct pi_cluster_conf cconf;
    pi_cluster_conf_init(&cconf);
    pi_open_from_conf(&g_cluster, &cconf);
    if (pi_cluster_open(&g_cluster))
        pmsis_exit(-2);
    g_l1_scratch = pi_cl_l1_malloc(&g_cluster, CL_SCRATCH_BYTES);

    pi_perf_conf(1 << PI_PERF_CYCLES);
    pi_perf_reset();
    pi_perf_start();
}

int board_getc(uint32_t timeout_ms)
{
    static uint8_t byte;
    static pi_task_t task;
    static int pending;
    if (!pending) {
        pi_uart_read_async(&g_uart, &byte, 1, pi_task_block(&task));
        pending = 1;
    }
    const uint64_t start = board_ticks();
    const uint64_t limit = (uint64_t)timeout_ms * (g_info.ticks_per_second / 1000u);
    while (!task.done) {
        if (board_ticks() - start >= limit)
            return -1; /* the read stays armed for the next call */
        pi_yield();
    }
    pending = 0;
    return byte;
}

void board_write(const uint8_t *data, size_t len)
{
    pi_uart_write(&g_uart, (void *)data, len);
}

/* ---- the optional hook board_conv_int8 (pit_board.h): cluster-parallel int8 conv,
 * enabled by PIT_PARALLEL_CONV in this port's Makefile ---- */

typedef struct {
    const pit_conv_q_t *p;
    uint32_t per_core;
} cl_conv_arg_t;

static void cl_conv_core(void *arg)
{
    const cl_conv_arg_t *a = arg;
    int start, end;
    pit_split_channels(a->p->cout, (int)pi_cl_cluster_nb_cores(), (int)pi_core_id(), &start,
                       &end);
    if (start < end)
        pit_conv_int8(a->p, start, end,
                      (int16_t *)(void *)(g_l1_scratch + pi_core_id() * a->per_core));
}

static void cl_conv_entry(void *arg) { pi_cl_team_fork(pi_cl_cluster_nb_cores(), cl_conv_core, arg); }

void board_conv_int8(const pit_conv_q_t *p, int16_t *scratch)
{
    const uint32_t need = (uint32_t)pit_conv_int8_scratch_bytes(p->cin, p->k);
    const uint32_t per_core = (need + 7u) & ~7u;
    if (per_core * pi_cl_cluster_nb_cores() > CL_SCRATCH_BYTES) {
        pit_conv_int8(p, 0, p->cout, scratch); /* too big for L1: run on the FC */
        return;
    }
    cl_conv_arg_t arg = {p, per_core};
    struct pi_cluster_task task;
    pi_cluster_task(&task, cl_conv_entry, &arg);
    pi_cluster_send_task_to_cl(&g_cluster, &task);
}

static void app_main(void)
{
    board_init();
    pit_serve_forever();
}

int main(void) { return pmsis_kickoff((void *)app_main); }
