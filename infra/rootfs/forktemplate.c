/*
 * The fork server's template (sandboxcore/harness/zygote.py): a copy of the
 * zygote, made once after the preload, that does nothing but clone spares.
 *
 * Why C: a process that runs Python after a fork writes to pages all over
 * its heap (reference counts, the frame stack, the allocator's lists), and
 * each first write after a fork copies the page. Under gVisor that copy is
 * of a whole 2 MiB block and costs about 1 ms, so the zygote's own loop paid
 * 20 ms of CPU per spare. This loop touches only its stack, so the clone is
 * all it costs.
 *
 * Protocol on the SOCK_SEQPACKET socket cmd, one message per spare:
 *   zygote -> template  8 bytes: the clone flags, plus SCM_RIGHTS with one
 *                       or two descriptors for the new spare
 *   template -> zygote  4 bytes: the spare's pid, or -errno
 * The spare is cloned with CLONE_PARENT: it is the zygote's child, so the
 * zygote reaps it and gets its exit status and rusage as before.
 *
 * serve_forks returns only in a new spare: the number of descriptors, with
 * the descriptors in fds[0..1] and the command socket closed. In the
 * template it never returns; it exits when the zygote goes away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int serve_forks(int cmd, int *fds)
{
	for (;;) {
		uint64_t flags;
		struct iovec iov = {&flags, sizeof flags};
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct msghdr msg;
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		ssize_t n = recvmsg(cmd, &msg, MSG_CMSG_CLOEXEC);
		if (n == 0)
			_exit(0); /* the zygote is gone */
		if (n < 0 && errno == EINTR)
			continue;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (n != sizeof flags || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || c == NULL ||
		    c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    (c->cmsg_len != CMSG_LEN(sizeof(int)) && c->cmsg_len != CMSG_LEN(2 * sizeof(int))))
			_exit(1);
		int count = c->cmsg_len == CMSG_LEN(sizeof(int)) ? 1 : 2;
		memcpy(fds, CMSG_DATA(c), count * sizeof(int));
		/* Only namespace flags may come from the zygote. */
		flags &= CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
			 CLONE_NEWCGROUP;
		long pid = syscall(SYS_clone, (unsigned long)(flags | CLONE_PARENT | SIGCHLD), 0, 0, 0, 0);
		if (pid == 0) {
			close(cmd);
			return count;
		}
		int32_t reply = pid < 0 ? -errno : (int32_t)pid;
		for (int i = 0; i < count; i++)
			close(fds[i]);
		if (write(cmd, &reply, sizeof reply) != (ssize_t)sizeof reply)
			_exit(1);
	}
}
