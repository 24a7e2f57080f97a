/*
 * The load side of bench:relay (bench/relay.ts compiles and runs it): the two phones of N calls,
 * one UDP socket each on 127.0.0.1, each sending a 20 ms G.711 RTP packet (12 + 160 bytes) to
 * its target, calls spread evenly over each 20 ms period, and measuring the delay of what comes
 * back (the send time, CLOCK_MONOTONIC ns, is in the payload; the receiver is this same process).
 *
 * A C program because the load must cost less than what it measures: a Node process spends about
 * 10 us per datagram sent or received and cannot feed 50,000 packets/s both ways on one core.
 *
 *   relay-load CALLS WARM_MS MEASURE_MS
 *   stdout: "port A port B" per call (the phones' ports), then "ready"
 *   stdin:  "target A target B" per call (where each phone sends: the relay's ports)
 *   stdout: "result SENT RECEIVED P50_US P99_US MAX_US SLIP_US"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTP_HEADER 12
#define PAYLOAD 160
#define PACKET (RTP_HEADER + PAYLOAD)
#define PERIOD_NS 20000000LL
/* Delay histogram: 1 us buckets up to 1 s, then one overflow bucket. */
#define BUCKETS 1000001

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static int64_t percentile(const uint32_t *h, uint64_t total, double p) {
  uint64_t want = (uint64_t)(total * p + 0.999999), seen = 0;
  if (want == 0) want = 1;
  for (int64_t i = 0; i < BUCKETS; i++) {
    seen += h[i];
    if (seen >= want) return i;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: relay-load CALLS WARM_MS MEASURE_MS\n");
    return 2;
  }
  int calls = atoi(argv[1]);
  int64_t warm = atoll(argv[2]) * 1000000LL, measure = atoll(argv[3]) * 1000000LL;
  int phones = calls * 2;
  int *fd = calloc(phones, sizeof(int));
  struct sockaddr_in *to = calloc(phones, sizeof(struct sockaddr_in));
  uint32_t *seq = calloc(phones, sizeof(uint32_t));
  uint32_t *hist = calloc(BUCKETS, sizeof(uint32_t));
  int ep = epoll_create1(0);
  for (int i = 0; i < phones; i++) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&a, sizeof a) < 0) {
      perror("socket/bind");
      return 1;
    }
    socklen_t len = sizeof a;
    getsockname(fd[i], (struct sockaddr *)&a, &len);
    printf(i % 2 == 0 ? "%d " : "%d\n", ntohs(a.sin_port));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev);
  }
  printf("ready\n");
  fflush(stdout);
  for (int i = 0; i < calls; i++) {
    int a, b;
    if (scanf("%d %d", &a, &b) != 2) {
      fprintf(stderr, "relay-load: expected %d target lines\n", calls);
      return 2;
    }
    int port[2] = {a, b};
    for (int s = 0; s < 2; s++) {
      to[i * 2 + s].sin_family = AF_INET;
      to[i * 2 + s].sin_port = htons(port[s]);
      to[i * 2 + s].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
  }

  uint8_t pkt[PACKET], in[2048];
  memset(pkt, 0xff, sizeof pkt);
  pkt[0] = 0x80;
  pkt[1] = 0; /* PCMU */
  uint64_t sent = 0, received = 0, slot = 0;
  int64_t slip = 0;
  int64_t start = now_ns(), measure_from = start + warm, end = measure_from + measure;
  int64_t drain_until = end + 300000000LL;
  struct epoll_event evs[256];
  for (;;) {
    int64_t t = now_ns();
    if (t >= drain_until) break;
    if (t < end) {
      uint64_t due = (uint64_t)((double)(t - start) / PERIOD_NS * calls);
      if (due > slot + (uint64_t)calls) {
        int64_t behind = (int64_t)((double)(due - slot) / calls * PERIOD_NS);
        if (behind > slip) slip = behind;
      }
      for (; slot < due; slot++) {
        int call = slot % calls;
        for (int s = 0; s < 2; s++) {
          int i = call * 2 + s;
          uint32_t n = seq[i]++;
          put16(pkt + 2, n & 0xffff);
          put32(pkt + 4, n * PAYLOAD);
          put32(pkt + 8, 0x10000 + i);
          int64_t ts = now_ns();
          memcpy(pkt + RTP_HEADER, &ts, 8);
          pkt[RTP_HEADER + 8] = ts >= measure_from;
          if (ts >= measure_from) sent++;
          sendto(fd[i], pkt, PACKET, 0, (struct sockaddr *)&to[i], sizeof to[i]);
        }
      }
    }
    int n = epoll_wait(ep, evs, 256, 0);
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      for (;;) {
        ssize_t got = recv(fd[i], in, sizeof in, 0);
        if (got < 0) break;
        if (got < RTP_HEADER + 9 || in[RTP_HEADER + 8] != 1) continue;
        int64_t ts;
        memcpy(&ts, in + RTP_HEADER, 8);
        int64_t us = (now_ns() - ts) / 1000;
        received++;
        hist[us < 0 ? 0 : us >= BUCKETS - 1 ? BUCKETS - 1 : us]++;
      }
    }
    if (n == 0) {
      /* Nothing to read: sleep until the next send is due (at most 200 us). */
      struct timespec nap = {0, 50000};
      nanosleep(&nap, NULL);
    }
  }
  printf("result %llu %llu %lld %lld %lld %lld\n", (unsigned long long)sent,
         (unsigned long long)received, (long long)percentile(hist, received, 0.5),
         (long long)percentile(hist, received, 0.99), (long long)percentile(hist, received, 1.0),
         (long long)(slip / 1000));
  fflush(stdout);
  return 0;
}
