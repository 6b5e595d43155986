/*
 * test_unixsock.c: unix listeners without a daemon: the uid/gid rules, name
 * resolution, and what binding does with what is already at the path (nothing,
 * a stale socket, a live socket, a regular file), mode through the umask, and
 * removal only of the file this process created.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "generation.h"
#include "unixsock.h"

static const struct {
	uid_t deny[2], allow_uid[2];
	gid_t allow_gid[2];
	size_t nd, nu, ng;
	uid_t uid;
	gid_t gid;
	bool admitted;
} rules[] = {
    {{0}, {0}, {0}, 0, 0, 0, 1000, 1000, true},        /* no rules: everyone */
    {{1000}, {0}, {0}, 1, 0, 0, 1000, 1000, false},    /* denied uid */
    {{1000}, {0}, {0}, 1, 0, 0, 1001, 1000, true},     /* another uid */
    {{0}, {0, 1000}, {0}, 0, 2, 0, 1000, 5, true},     /* allowed uid */
    {{0}, {0, 1000}, {0}, 0, 2, 0, 1002, 5, false},    /* not in the allow list */
    {{0}, {0}, {50}, 0, 0, 1, 1002, 50, true},         /* allowed by gid */
    {{0}, {7}, {50}, 0, 1, 1, 1002, 51, false},        /* neither uid nor gid */
    {{1000}, {1000}, {0}, 1, 1, 0, 1000, 1000, false}, /* deny comes first */
};

START_TEST(rules_decide_by_uid_then_gid)
{
	struct unix_ids u = {0};
	u.deny_uid = (uid_t *)rules[_i].deny;
	u.n_deny_uid = rules[_i].nd;
	u.allow_uid = (uid_t *)rules[_i].allow_uid;
	u.n_allow_uid = rules[_i].nu;
	u.allow_gid = (gid_t *)rules[_i].allow_gid;
	u.n_allow_gid = rules[_i].ng;
	struct peer_cred c = {.pid = 1, .uid = rules[_i].uid, .gid = rules[_i].gid};
	ck_assert_int_eq(unixsock_admit(&u, &c), rules[_i].admitted);
	ck_assert(unixsock_admit(NULL, &c));
}
END_TEST

/* A listener at dir/name, prepared (ids resolved); the caller frees gl->un. */
static void prepare(struct listener_conf *lc, struct gen_listener *gl, char *path, int mode)
{
	memset(lc, 0, sizeof *lc);
	memset(gl, 0, sizeof *gl);
	lc->name = "t";
	lc->file = "t.conf";
	lc->protocol = PROTO_UNIX;
	lc->backlog = 4;
	lc->un.path = path;
	lc->un.mode = mode;
	lc->un.path_line = 3;
	gl->conf = lc;
	char why[256];
	ck_assert_msg(unixsock_prepare(gl, why, sizeof why) == 0, "%s", why);
}

static char dir[] = "/tmp/test_unixsock.XXXXXX";

static char *path_in_dir(const char *name)
{
	static char buf[100]; /* shorter than sun_path */
	snprintf(buf, sizeof buf, "%s/%s", dir, name);
	return buf;
}

START_TEST(bind_replaces_a_stale_socket_and_removes_only_its_own_file)
{
	char *path = path_in_dir("stale.sock");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	int old = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(old, (struct sockaddr *)&sun, sizeof sun), 0);
	close(old); /* the file stays; nobody listens */
	struct listener_conf lc;
	struct gen_listener gl;
	prepare(&lc, &gl, path, 0640);
	char err[512] = "";
	int fd = unixsock_bind(&gl, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	unixsock_note_bound(&gl);
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	/* A second listener on the same path now finds it live. */
	struct listener_conf lc2;
	struct gen_listener gl2;
	prepare(&lc2, &gl2, path, -1);
	ck_assert_int_eq(unixsock_bind(&gl2, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "t.conf:3: listener 't': ") && strstr(err, "is in use"), "%s",
	              err);
	unixsock_unlink(&gl2); /* not its file: left alone */
	ck_assert_int_eq(access(path, F_OK), 0);
	unixsock_unlink(&gl);
	ck_assert_int_eq(access(path, F_OK), -1);
	close(fd);
	unixsock_free(gl.un);
	unixsock_free(gl2.un);
}
END_TEST

START_TEST(a_file_that_is_not_a_socket_is_never_removed)
{
	char *path = path_in_dir("file");
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("data\n", f);
	fclose(f);
	struct listener_conf lc;
	struct gen_listener gl;
	prepare(&lc, &gl, path, -1);
	char err[512] = "";
	ck_assert_int_eq(unixsock_bind(&gl, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "exists and is not a socket (not removed)"), "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 5);
	unlink(path);
	unixsock_free(gl.un);
}
END_TEST

START_TEST(unknown_names_are_errors)
{
	struct listener_conf lc = {0};
	struct gen_listener gl = {0};
	char *bad[] = {"no-such-user-for-ksockd", NULL};
	lc.name = "t";
	lc.protocol = PROTO_UNIX;
	lc.un.path = path_in_dir("x.sock");
	lc.un.mode = -1;
	lc.un.allow_uid = bad;
	lc.un.n_allow_uid = 1;
	gl.conf = &lc;
	char why[256] = "";
	ck_assert_int_eq(unixsock_prepare(&gl, why, sizeof why), -1);
	ck_assert_msg(strstr(why, "'allow_uid': no user named 'no-such-user-for-ksockd'"), "%s",
	              why);
	unixsock_free(gl.un);
	char *num[] = {"4242", "0", NULL};
	lc.un.allow_uid = num;
	lc.un.n_allow_uid = 2;
	gl.un = NULL;
	ck_assert_int_eq(unixsock_prepare(&gl, why, sizeof why), 0);
	ck_assert_uint_eq(gl.un->allow_uid[0], 4242);
	ck_assert_uint_eq(gl.un->allow_uid[1], 0);
	unixsock_free(gl.un);
}
END_TEST

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	Suite *s = suite_create("unixsock");
	TCase *tc = tcase_create("unixsock");
	tcase_add_loop_test(tc, rules_decide_by_uid_then_gid, 0, sizeof rules / sizeof rules[0]);
	tcase_add_test(tc, bind_replaces_a_stale_socket_and_removes_only_its_own_file);
	tcase_add_test(tc, a_file_that_is_not_a_socket_is_never_removed);
	tcase_add_test(tc, unknown_names_are_errors);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(dir);
	return failed ? 1 : 0;
}
