/* servers.c — see servers.h. */
#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_MS 15000
#define STOP_DEADLINE_MS  5000

long long tsrv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    /* Polling interval between readiness probes, not synchronisation. */
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct sockaddr_in tsrv_loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    return a;
}

int tsrv_listen(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = tsrv_loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0 ||
        (backlog >= 0 && listen(fd, backlog) != 0)) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int tsrv_free_port(void)
{
    int port = -1;
    int fd = tsrv_listen(-1, &port);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? port : -1;
}

int tsrv_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = tsrv_loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void tsrv_accept_loop(int lfd, atomic_bool *stop, void (*serve)(void *arg, int fd), void *arg)
{
    while (!atomic_load(stop)) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(arg, fd);
        close(fd);
    }
}

bool tsrv_port_open(int port)
{
    int fd = tsrv_connect(port);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int read_line(int fd, char *out, size_t outlen, int timeout_ms)
{
    size_t n = 0;
    long long deadline = tsrv_now_ms() + timeout_ms;
    while (n + 1 < outlen) {
        struct pollfd p = {fd, POLLIN, 0};
        long long left = deadline - tsrv_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0)
            return -1;
        if (c == '\n')
            break;
        if (c != '\r')
            out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

int tsrv_redis_raw(const tsrv *s, char *out, size_t outlen, int argc, const char *const *argv)
{
    int fd = tsrv_connect(s->port);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t len = 0;
    int rc = -1;
    char line[256];
    if (s->password[0]) {
        const char *auth[] = {"AUTH", s->password};
        len = (size_t)snprintf(buf, sizeof buf, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
                               strlen(auth[1]), auth[1]);
        if (write(fd, buf, len) != (ssize_t)len || read_line(fd, line, sizeof line, 2000) != 0)
            goto out;
    }
    len = (size_t)snprintf(buf, sizeof buf, "*%d\r\n", argc);
    for (int i = 0; i < argc && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "$%zu\r\n%s\r\n", strlen(argv[i]),
                                argv[i]);
    if (len >= sizeof buf)
        goto out;
    if (write(fd, buf, len) != (ssize_t)len)
        goto out;
    rc = read_line(fd, out, outlen, 5000);
out:
    close(fd);
    return rc;
}

static void mkdirp_tmp(tsrv *s, const char *kind)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/sqclaim-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", kind);
    if (!mkdtemp(s->dir))
        s->dir[0] = '\0';
}

/* Fork and exec argv with stdout/stderr to dir/log.  Returns pid or -1. */
static pid_t spawn(const tsrv *s, const char *const argv[])
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", s->dir, s->kind);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        char *args[64];
        int n = 0;
        for (; argv[n] && n < 63; n++)
            args[n] = strdup(argv[n]); /* execvp wants non-const strings */
        args[n] = NULL;
        execvp(args[0], args);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void dump_log(const tsrv *s)
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", s->dir, s->kind);
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[512];
    fprintf(stderr, "--- %s log (%s):\n", s->kind, log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

static bool exited(tsrv *s)
{
    int st;
    if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid) {
        s->pid = 0;
        return true;
    }
    return s->pid <= 0;
}

static int redis_spawn(tsrv *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(s->unixsock, sizeof s->unixsock, "%s/redis.sock", s->dir);
    const char *argv[32];
    int i = 0;
    argv[i++] = "redis-server";
    argv[i++] = "--port";
    argv[i++] = port;
    argv[i++] = "--bind";
    argv[i++] = "127.0.0.1";
    argv[i++] = "--save";
    argv[i++] = "";
    argv[i++] = "--appendonly";
    argv[i++] = "no";
    argv[i++] = "--dir";
    argv[i++] = s->dir;
    argv[i++] = "--unixsocket";
    argv[i++] = s->unixsock;
    argv[i++] = "--daemonize";
    argv[i++] = "no";
    argv[i++] = "--loglevel";
    argv[i++] = "warning";
    if (s->password[0]) {
        argv[i++] = "--requirepass";
        argv[i++] = s->password;
    }
    argv[i] = NULL;
    s->pid = spawn(s, argv);
    if (s->pid < 0)
        return -1;
    long long deadline = tsrv_now_ms() + START_DEADLINE_MS;
    while (tsrv_now_ms() < deadline) {
        if (exited(s))
            return -1;
        char reply[128];
        const char *ping[] = {"PING"};
        if (tsrv_redis_raw(s, reply, sizeof reply, 1, ping) == 0 && strcmp(reply, "+PONG") == 0)
            return 0;
        pause_ms(10);
    }
    return -1;
}

int tsrv_redis_start(tsrv *s, const char *password)
{
    memset(s, 0, sizeof *s);
    snprintf(s->kind, sizeof s->kind, "redis-server");
    if (password)
        snprintf(s->password, sizeof s->password, "%s", password);
    mkdirp_tmp(s, "redis");
    if (!s->dir[0]) {
        perror("mkdtemp");
        return -1;
    }
    /* A free port can be taken between probing and binding: try again. */
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = tsrv_free_port();
        if (s->port > 0 && redis_spawn(s) == 0) {
            snprintf(s->url, sizeof s->url, "redis://%s%s%s127.0.0.1:%d", s->password[0] ? ":" : "",
                     s->password, s->password[0] ? "@" : "", s->port);
            return 0;
        }
        tsrv_kill(s, SIGKILL);
    }
    fprintf(stderr, "could not start redis-server\n");
    dump_log(s);
    tsrv_stop(s);
    return -1;
}

int tsrv_redis_restart(tsrv *s)
{
    tsrv_kill(s, SIGTERM);
    long long deadline = tsrv_now_ms() + START_DEADLINE_MS;
    while (tsrv_now_ms() < deadline) {
        if (redis_spawn(s) == 0)
            return 0;
        tsrv_kill(s, SIGKILL);
        pause_ms(50); /* the old socket may still be in TIME_WAIT/closing */
    }
    fprintf(stderr, "could not restart redis-server on port %d\n", s->port);
    dump_log(s);
    return -1;
}

int tsrv_kvrest_start(tsrv *s, const tsrv *redis, const char *token, const char *const *extra_args)
{
    memset(s, 0, sizeof *s);
    snprintf(s->kind, sizeof s->kind, "kvrest");
    snprintf(s->token, sizeof s->token, "%s", token ? token : "");
    mkdirp_tmp(s, "kvrest");
    if (!s->dir[0]) {
        perror("mkdtemp");
        return -1;
    }
    const char *bin = getenv("SQCLAIM_KVREST");
    if (!bin || !*bin)
        bin = "build/kvrest";
    char portfile[400], redisaddr[64];
    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    snprintf(redisaddr, sizeof redisaddr, "127.0.0.1:%d", redis->port);
    const char *argv[64];
    int i = 0;
    argv[i++] = bin;
    argv[i++] = "--port";
    argv[i++] = "0";
    argv[i++] = "--port-file";
    argv[i++] = portfile;
    argv[i++] = "--redis";
    argv[i++] = redisaddr;
    if (redis->password[0]) {
        argv[i++] = "--redis-password";
        argv[i++] = redis->password;
    }
    argv[i++] = "--token";
    argv[i++] = s->token;
    for (int k = 0; extra_args && extra_args[k] && i < 62; k++)
        argv[i++] = extra_args[k];
    argv[i] = NULL;
    s->pid = spawn(s, argv);
    if (s->pid < 0)
        goto fail;
    long long deadline = tsrv_now_ms() + START_DEADLINE_MS;
    while (tsrv_now_ms() < deadline) {
        if (exited(s))
            goto fail;
        FILE *f = fopen(portfile, "r");
        if (f) {
            int port = 0;
            int n = fscanf(f, "%d", &port);
            fclose(f);
            if (n == 1 && port > 0 && tsrv_port_open(port)) {
                s->port = port;
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
                return 0;
            }
        }
        pause_ms(10);
    }
fail:
    fprintf(stderr, "could not start kvrest (%s)\n", bin);
    dump_log(s);
    tsrv_stop(s);
    return -1;
}

void tsrv_kill(tsrv *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    long long deadline = tsrv_now_ms() + STOP_DEADLINE_MS;
    while (!exited(s)) {
        if (tsrv_now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
            break;
        }
        pause_ms(5);
    }
}

static void rm_rf(const char *dir)
{
    if (!dir[0])
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

void tsrv_stop(tsrv *s)
{
    tsrv_kill(s, SIGTERM);
    rm_rf(s->dir);
    s->dir[0] = '\0';
}
