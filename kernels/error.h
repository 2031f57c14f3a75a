/* Error reporting: functions return SS_OK (0) or SS_ERR (-1) and set a
 * thread-local message that names the operation and the shapes involved. */
#ifndef SS_ERROR_H
#define SS_ERROR_H

#define SS_OK 0
#define SS_ERR (-1)

/* Sets the thread-local message (printf-style) and returns SS_ERR. */
int ss_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message set on this thread ("" when none). */
const char *semiseg_error(void);
void ss_clearerr(void);

#endif
