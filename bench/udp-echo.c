/* bench/udp-echo.c: the C side of bench:wakeup. A UDP echo server on 127.0.0.1:PORT that blocks
 * in recvfrom and answers each datagram to its sender with sendto, nothing else: what a wakeup
 * per datagram costs a process without a runtime in between. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: udp-echo PORT\n");
    return 2;
  }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in me = {0};
  me.sin_family = AF_INET;
  me.sin_port = htons((unsigned short)atoi(argv[1]));
  me.sin_addr.s_addr = inet_addr("127.0.0.1");
  if (bind(s, (struct sockaddr *)&me, sizeof me) != 0) {
    perror("bind");
    return 1;
  }
  char buf[65536];
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (n >= 0) sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
  }
}
