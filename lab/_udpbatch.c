/* lab._udpbatch: one recvmmsg and one sendmmsg per wake-up of a UDP server socket.
 *
 * Optional: `make install` builds it where a C compiler and the Python headers are (setup.py,
 * optional=True); without it the servers use recvfrom/sendto per datagram (same behaviour).
 *
 *   batch = Batch(slots=64)
 *   queries = batch.recv(fd)      # [(bytes, (host, port)), ...], at most `slots`; OSError
 *                                 # (BlockingIOError when nothing is waiting) as recvfrom
 *   dropped = batch.send(fd, replies)
 *                                 # replies[i] (bytes or None: no reply) goes to the sender
 *                                 # of queries[i] of the last recv; returns how many replies
 *                                 # were dropped because the send buffer was full
 *
 * An IPv4 sender's (host, port) tuple is kept (256 slots by hash) and reused while the same
 * sender repeats, so a busy client costs no inet_ntop and no new tuple per datagram.
 * Non-blocking (MSG_DONTWAIT) throughout, so the GIL is kept: no call here ever waits.
 * A reply the kernel refuses for another reason (unreachable, too big) is skipped, as a
 * failed sendto is. Written for dnslab; Linux (recvmmsg/sendmmsg).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define SLOT_BYTES 65536 /* larger than any UDP payload: a datagram is never cut */
#define MAX_SLOTS 1024
#define SENDERS 256 /* IPv4 senders whose (host, port) tuple is kept for reuse */

typedef struct {
    struct sockaddr_in name;
    PyObject *address; /* ("a.b.c.d", port), or NULL */
} Sender;

typedef struct {
    PyObject_HEAD
    int slots;
    int received; /* datagrams of the last recv: the replies' addresses */
    unsigned char *buffers;
    struct sockaddr_storage *names;
    struct iovec *in_iov;
    struct mmsghdr *in_hdr;
    struct iovec *out_iov;
    struct mmsghdr *out_hdr;
    Sender senders[SENDERS]; /* a repeat sender costs no inet_ntop and no new tuple */
} Batch;

static void batch_free(Batch *self) {
    PyMem_RawFree(self->buffers);
    PyMem_Free(self->names);
    PyMem_Free(self->in_iov);
    PyMem_Free(self->in_hdr);
    PyMem_Free(self->out_iov);
    PyMem_Free(self->out_hdr);
    self->buffers = NULL;
    self->names = NULL;
    self->in_iov = self->out_iov = NULL;
    self->in_hdr = self->out_hdr = NULL;
    self->slots = self->received = 0;
    for (int i = 0; i < SENDERS; i++) {
        Py_CLEAR(self->senders[i].address);
    }
}

static int Batch_init(Batch *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"slots", NULL};
    int slots = 64;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i", keywords, &slots)) {
        return -1;
    }
    if (slots < 1 || slots > MAX_SLOTS) {
        PyErr_Format(PyExc_ValueError, "slots must be 1..%d, not %d", MAX_SLOTS, slots);
        return -1;
    }
    batch_free(self);
    /* large: malloc maps it, and only the pages datagrams are written to become resident */
    self->buffers = PyMem_RawMalloc((size_t)slots * SLOT_BYTES);
    self->names = PyMem_Calloc(slots, sizeof(struct sockaddr_storage));
    self->in_iov = PyMem_Calloc(slots, sizeof(struct iovec));
    self->in_hdr = PyMem_Calloc(slots, sizeof(struct mmsghdr));
    self->out_iov = PyMem_Calloc(slots, sizeof(struct iovec));
    self->out_hdr = PyMem_Calloc(slots, sizeof(struct mmsghdr));
    if (!self->buffers || !self->names || !self->in_iov || !self->in_hdr || !self->out_iov ||
        !self->out_hdr) {
        batch_free(self);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < slots; i++) {
        self->in_iov[i].iov_base = self->buffers + (size_t)i * SLOT_BYTES;
        self->in_iov[i].iov_len = SLOT_BYTES;
    }
    self->slots = slots;
    return 0;
}

static void Batch_dealloc(Batch *self) {
    batch_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *address(Batch *self, const struct sockaddr_storage *name) {
    char text[INET6_ADDRSTRLEN];
    if (name->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)name;
        uint32_t ip = in->sin_addr.s_addr;
        Sender *kept = &self->senders[(ip ^ (ip >> 16) ^ in->sin_port) % SENDERS];
        if (kept->address && kept->name.sin_addr.s_addr == ip &&
            kept->name.sin_port == in->sin_port) {
            Py_INCREF(kept->address);
            return kept->address;
        }
        if (!inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        PyObject *made = Py_BuildValue("(si)", text, (int)ntohs(in->sin_port));
        if (made) {
            Py_XSETREF(kept->address, Py_NewRef(made));
            kept->name = *in;
        }
        return made;
    }
    if (name->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)name;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        return Py_BuildValue("(siII)", text, (int)ntohs(in6->sin6_port),
                             (unsigned int)ntohl(in6->sin6_flowinfo),
                             (unsigned int)in6->sin6_scope_id);
    }
    PyErr_Format(PyExc_OSError, "datagram from address family %d", (int)name->ss_family);
    return NULL;
}

static int file_descriptor(PyObject *arg) {
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < 0 || fd > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "not a file descriptor: %ld", fd);
        return -1;
    }
    return (int)fd;
}

static int ready(Batch *self) {
    if (self->slots == 0) {
        PyErr_SetString(PyExc_ValueError, "Batch not initialised");
        return 0;
    }
    return 1;
}

static PyObject *Batch_recv(Batch *self, PyObject *arg) {
    int fd = file_descriptor(arg);
    if (fd < 0) {
        return NULL;
    }
    if (!ready(self)) {
        return NULL;
    }
    self->received = 0;
    for (int i = 0; i < self->slots; i++) {
        struct msghdr *h = &self->in_hdr[i].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_name = &self->names[i];
        h->msg_namelen = sizeof(struct sockaddr_storage);
        h->msg_iov = &self->in_iov[i];
        h->msg_iovlen = 1;
    }
    int n;
    do {
        n = recvmmsg(fd, self->in_hdr, (unsigned int)self->slots, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *out = PyList_New(n);
    if (!out) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyObject *data =
            PyBytes_FromStringAndSize((const char *)self->in_iov[i].iov_base,
                                      (Py_ssize_t)self->in_hdr[i].msg_len);
        PyObject *addr = data ? address(self, &self->names[i]) : NULL;
        PyObject *pair = addr ? PyTuple_Pack(2, data, addr) : NULL;
        Py_XDECREF(data);
        Py_XDECREF(addr);
        if (!pair) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    self->received = n;
    return out;
}

static PyObject *Batch_send(Batch *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send(fd, replies) takes 2 arguments");
        return NULL;
    }
    int fd = file_descriptor(args[0]);
    if (fd < 0) {
        return NULL;
    }
    PyObject *replies = args[1];
    if (!PyList_Check(replies)) {
        PyErr_SetString(PyExc_TypeError, "replies must be a list");
        return NULL;
    }
    if (!ready(self)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(replies);
    if (n > self->received) {
        PyErr_Format(PyExc_ValueError, "%zd replies for %d datagrams received", n,
                     self->received);
        return NULL;
    }
    unsigned int count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *reply = PyList_GET_ITEM(replies, i);
        if (reply == Py_None) {
            continue;
        }
        if (!PyBytes_Check(reply)) {
            PyErr_SetString(PyExc_TypeError, "a reply must be bytes or None");
            return NULL;
        }
        /* the list holds the bytes objects until sendmmsg returns */
        self->out_iov[count].iov_base = PyBytes_AS_STRING(reply);
        self->out_iov[count].iov_len = (size_t)PyBytes_GET_SIZE(reply);
        struct msghdr *h = &self->out_hdr[count].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_name = &self->names[i];
        h->msg_namelen = self->in_hdr[i].msg_hdr.msg_namelen;
        h->msg_iov = &self->out_iov[count];
        h->msg_iovlen = 1;
        count++;
    }
    unsigned int done = 0;
    long dropped = 0;
    while (done < count) {
        int sent = sendmmsg(fd, self->out_hdr + done, count - done, MSG_DONTWAIT);
        if (sent > 0) {
            done += (unsigned int)sent;
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            dropped += count - done; /* the send buffer is full: dropped, as UDP may */
            break;
        } else {
            done++; /* this reply failed (unreachable, too big...): skipped, as sendto's */
        }
    }
    return PyLong_FromLong(dropped);
}

static PyMethodDef Batch_methods[] = {
    {"recv", (PyCFunction)Batch_recv, METH_O,
     "recv(fd) -> [(bytes, address)]: every datagram waiting, up to slots (one recvmmsg)."},
    {"send", (PyCFunction)(void (*)(void))Batch_send, METH_FASTCALL,
     "send(fd, replies) -> dropped: replies[i] (bytes or None) to the sender of datagram i "
     "of the last recv (one sendmmsg)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "lab._udpbatch.Batch",
    .tp_doc = "Preallocated buffers for recvmmsg/sendmmsg on one UDP socket.",
    .tp_basicsize = sizeof(Batch),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Batch_init,
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_methods = Batch_methods,
};

static struct PyModuleDef udpbatch_module = {
    PyModuleDef_HEAD_INIT, "lab._udpbatch",
    "One recvmmsg and one sendmmsg per wake-up of a UDP server socket.", -1, NULL,
};

PyMODINIT_FUNC PyInit__udpbatch(void) {
    if (PyType_Ready(&BatchType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&udpbatch_module);
    if (!module) {
        return NULL;
    }
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(module, "Batch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
