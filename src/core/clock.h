/* The monotonic clock training, the race and the thread team time themselves by. */
#ifndef NF_CLOCK_H
#define NF_CLOCK_H

/* Seconds since an arbitrary start, never going back. */
double clock_seconds(void);

#endif
