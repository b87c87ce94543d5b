/* Native Linux port: the firmware core as a process. Serves the protocol on stdin/stdout
 * (default) or, with --pty, on a new pseudo-terminal whose path is printed as the first
 * line of stdout. Ticks are CLOCK_MONOTONIC nanoseconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pit_board.h"
#include "pit_proto.h"

static int g_in = 0, g_out = 1;

static const pit_board_info_t k_info = {"host", 0u, 1000000000u, PIT_TIMER_WALLCLOCK, 0u, NULL, 0u};

const pit_board_info_t *board_info(void) { return &k_info; }

/* The timestamp pin as a log: with PIT_TIMESTAMP_LOG set, each edge appends its tick to
 * that file, so tests can check where the firmware marks its timed windows. */
static FILE *g_timestamps;

void board_init(void)
{
    const char *path = getenv("PIT_TIMESTAMP_LOG");
    if (path && *path)
        g_timestamps = fopen(path, "a");
}

void board_timestamp(void)
{
    if (g_timestamps) {
        fprintf(g_timestamps, "%llu\n", (unsigned long long)board_ticks());
        fflush(g_timestamps);
    }
}

uint64_t board_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t g_buf[4096];
static size_t g_have, g_pos;

int board_getc(uint32_t timeout_ms)
{
    if (g_pos < g_have)
        return g_buf[g_pos++];
    struct pollfd pfd = {g_in, POLLIN, 0};
    int r = poll(&pfd, 1, (int)timeout_ms);
    if (r < 0 && errno == EINTR)
        return -1;
    if (r <= 0)
        return -1;
    ssize_t n = read(g_in, g_buf, sizeof g_buf);
    if (n == 0)
        exit(0); /* stdin closed: the host is gone */
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == EIO) {
            if (errno == EIO)
                usleep(10000); /* pty without a reader attached */
            return -1;
        }
        exit(1);
    }
    g_have = (size_t)n;
    g_pos = 1;
    return g_buf[0];
}

void board_write(const uint8_t *data, size_t len)
{
    while (len) {
        ssize_t n = write(g_out, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            exit(1);
        }
        data += n;
        len -= (size_t)n;
    }
}

static int open_pty(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m))
        return -1;
    const char *name = ptsname(m);
    if (!name)
        return -1;
    /* Keep a slave descriptor open so reads do not fail with EIO between clients, and put
     * the line in raw mode so binary frames pass unchanged. */
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s < 0)
        return -1;
    struct termios tio;
    tcgetattr(s, &tio);
    cfmakeraw(&tio);
    tcsetattr(s, TCSANOW, &tio);
    printf("%s\n", name);
    fflush(stdout);
    return m;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--pty") == 0) {
        int m = open_pty();
        if (m < 0) {
            perror("pty");
            return 1;
        }
        g_in = g_out = m;
    } else if (argc > 1) {
        fprintf(stderr, "usage: %s [--pty]\n", argv[0]);
        return 2;
    }
    board_init();
    pit_serve_forever();
    return 0;
}
