/* What keeps one client from exhausting the server: deadlines for headers and bodies (slow clients
 * are dropped), a cap on the memory held by unfinished bodies, and a cap on the pending request
 * ids one client may hold in the monitor. Connection counts (total and per IP) are
 * libmicrohttpd's own limits, set in http.c.
 *
 * Deadlines: libmicrohttpd's idle timeout resets on every byte, so a client that trickles one
 * byte a second holds its connection forever. Every connection is tracked here with an absolute
 * deadline (headers: from accept or from the end of the previous request; body: from the end of
 * the headers); main's loop calls serve_conns_reap() a few times a second, which shuts down the
 * socket of every connection past its deadline. shutdown() (not close) leaves the descriptor to
 * libmicrohttpd, which sees end-of-file and closes the connection itself; the table's lock is
 * held across the shutdown and the close notification, so a descriptor is never shut down after
 * libmicrohttpd has released it.
 *
 * Spinning (--spin-us): a worker that has answered sleeps in epoll until the next request, and
 * waking it costs this VM tens of microseconds, more than answering does. So after an answer on
 * a connection that is alone on its worker, the worker polls that socket for up to --spin-us
 * before it goes back to libmicrohttpd's epoll (which then returns at once). Only a caller that
 * sends its next request at once gains; a connection whose poll ran out skips the next
 * SPIN_BACKOFF answers, so a slow caller costs at most one spin in SPIN_BACKOFF + 1. A busy
 * worker (two or more connections) never spins, nor does any while the server has more
 * connections than workers: libmicrohttpd's workers race to accept, so 16 connections may split
 * 15 to 1, and the worker left with one must not take a core from the one with 15. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "serve.h"

struct conn_slot {
    struct conn_slot *prev, *next;
    int fd;
    int phase;       /* PHASE_* */
    double deadline; /* monotonic seconds; 0 = none (a request is being answered) */
    unsigned spin_skip; /* answers left before this connection may spin again (its worker only) */
};

/* Connections of the calling libmicrohttpd worker: each worker accepts, answers and closes its
 * own connections, so a per-thread count needs no lock. (A count gone wrong only changes whether
 * a worker spins.) */
static _Thread_local int worker_conns;
#define SPIN_BACKOFF 16

enum { PHASE_HEADERS, PHASE_BODY, PHASE_BUSY };
static const char *const phase_reasons[] = {"header_deadline", "body_deadline", "busy"};

double serve_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_phase(struct conn_slot *slot, int phase, double timeout) {
    slot->phase = phase;
    slot->deadline = timeout > 0 ? serve_now() + timeout : 0;
}

void serve_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_slot *slot = calloc(1, sizeof *slot);
        if (!slot || !fd) { /* untracked: libmicrohttpd's idle timeout still applies */
            free(slot);
            return;
        }
        slot->fd = fd->connect_fd;
        worker_conns++;
        set_phase(slot, PHASE_HEADERS, (double)s->opts->header_timeout);
        pthread_mutex_lock(&s->conns_lock);
        slot->next = s->conns;
        if (s->conns) s->conns->prev = slot;
        s->conns = slot;
        atomic_fetch_add(&s->open_conns, 1);
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = slot;
    } else if (*socket_context) {
        struct conn_slot *slot = *socket_context;
        worker_conns--;
        pthread_mutex_lock(&s->conns_lock);
        if (slot->prev)
            slot->prev->next = slot->next;
        else
            s->conns = slot->next;
        if (slot->next) slot->next->prev = slot->prev;
        atomic_fetch_sub(&s->open_conns, 1);
        pthread_mutex_unlock(&s->conns_lock);
        free(slot);
        *socket_context = NULL;
    }
}

/* Move the connection of `c` to another phase: its deadline starts now. */
static void conn_phase(server *s, struct MHD_Connection *c, int phase, double timeout) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = i ? i->socket_context : NULL;
    if (!slot) return;
    pthread_mutex_lock(&s->conns_lock);
    set_phase(slot, phase, timeout);
    pthread_mutex_unlock(&s->conns_lock);
}

void serve_conn_body_started(server *s, struct MHD_Connection *c) {
    conn_phase(s, c, PHASE_BODY, (double)s->opts->body_timeout);
}
void serve_conn_busy(server *s, struct MHD_Connection *c) { conn_phase(s, c, PHASE_BUSY, 0); }
void serve_conn_idle(server *s, struct MHD_Connection *c) {
    conn_phase(s, c, PHASE_HEADERS, (double)s->opts->header_timeout);
}

void serve_conn_spin(server *s, struct MHD_Connection *c) {
    if (s->opts->spin_us == 0 || worker_conns != 1 || atomic_load(&s->open_conns) > s->opts->threads) return;
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = i ? i->socket_context : NULL;
    if (!slot) return;
    if (slot->spin_skip) {
        slot->spin_skip--;
        return;
    }
    int saved_errno = errno;
    double end = serve_now() + (double)s->opts->spin_us * 1e-6;
    int waiting;
    do {
        char b;
        /* data, end of file or an error: libmicrohttpd takes it from here */
        waiting = recv(slot->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    } while (waiting && serve_now() < end);
    if (waiting) slot->spin_skip = SPIN_BACKOFF;
    mlops_metrics_counter_inc(waiting ? s->spin_misses : s->spin_hits, 1.0);
    errno = saved_errno;
}

void serve_conns_reap(server *s) {
    double now = serve_now();
    pthread_mutex_lock(&s->conns_lock);
    for (struct conn_slot *slot = s->conns; slot; slot = slot->next)
        if (slot->deadline > 0 && now > slot->deadline) {
            shutdown(slot->fd, SHUT_RDWR);
            const char *labels[1] = {phase_reasons[slot->phase]};
            mlops_metrics_counter_inc_labels(s->dropped, labels, 1, 1.0);
            slot->deadline = 0;
        }
    pthread_mutex_unlock(&s->conns_lock);
}

/* ---- memory held by unfinished bodies ---- */

/* Large bodies may fill only 3/4 of --max-body-memory: the last quarter stays for small requests,
 * so that a flood of large half-sent bodies does not refuse every ordinary prediction. */
#define SMALL_BODY ((size_t)64 << 10)

int serve_body_reserve(server *s, request *rq, size_t bytes) {
    size_t cap = s->opts->max_body_memory;
    size_t limit = rq->reserved + bytes > SMALL_BODY ? cap - cap / 4 : cap;
    size_t before = atomic_fetch_add(&s->body_bytes, bytes);
    if (before + bytes > limit) {
        atomic_fetch_sub(&s->body_bytes, bytes);
        return -1;
    }
    rq->reserved += bytes;
    return 0;
}

void serve_body_release(server *s, request *rq) {
    atomic_fetch_sub(&s->body_bytes, rq->reserved);
    rq->reserved = 0;
}

/* ---- pending request ids per client ----
 * A client (its IP address) may create at most --max-pending-per-client ids within the monitor's
 * time to live: older ids have expired anyway, so it never holds more than that many. Each client
 * hashes to one of CLIENT_SLOTS slots holding the times of its last ids (a ring); two clients
 * that hash to the same slot share its budget. */
#define CLIENT_SLOTS 1024

struct client_ids {
    double *times; /* ring of max_pending_per_client creation times, 0 = free */
    size_t next;
};

static size_t client_slot(const struct sockaddr *addr) {
    const unsigned char *p = NULL;
    size_t n = 0;
    if (addr && addr->sa_family == AF_INET) {
        p = (const unsigned char *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
        n = 4;
    } else if (addr && addr->sa_family == AF_INET6) {
        p = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
        n = 16;
    }
    return (size_t)(mlops_router_key_hash(p, n, 0x5e12e) % CLIENT_SLOTS);
}

int serve_client_take_id(server *s, struct MHD_Connection *c, double ttl) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    size_t k = client_slot(ci ? ci->client_addr : NULL), cap = s->opts->max_pending_per_client;
    double now = serve_now();
    int rc = -1;
    pthread_mutex_lock(&s->clients_lock);
    struct client_ids *cl = &s->clients[k];
    if (!cl->times) cl->times = calloc(cap, sizeof *cl->times);
    if (cl->times) {
        double oldest = cl->times[cl->next]; /* the ring's next slot holds its oldest time */
        if (oldest == 0 || (ttl > 0 && now - oldest > ttl)) {
            cl->times[cl->next] = now;
            cl->next = (cl->next + 1) % cap;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&s->clients_lock);
    return rc;
}

int serve_limits_init(server *s) {
    s->clients = calloc(CLIENT_SLOTS, sizeof *s->clients);
    if (!s->clients) return -1;
    pthread_mutex_init(&s->conns_lock, NULL);
    pthread_mutex_init(&s->clients_lock, NULL);
    return 0;
}

void serve_limits_free(server *s) {
    if (!s->clients) return;
    for (size_t k = 0; k < CLIENT_SLOTS; k++)
        free(s->clients[k].times);
    free(s->clients);
    s->clients = NULL;
    pthread_mutex_destroy(&s->conns_lock);
    pthread_mutex_destroy(&s->clients_lock);
}
