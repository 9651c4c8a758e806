/* A week of temperatures, converted to Fahrenheit in place; days above the alert
   threshold are reported. The week had two hot days, the report finds none. */
#include <stdio.h>

#define DAYS 7

struct week {
    int temps[DAYS];  /* Celsius, then Fahrenheit */
    int alert_above;  /* Fahrenheit */
};

static void to_fahrenheit(struct week *w)
{
    for (int d = 0; d <= DAYS; d++)  /* bug: one past the end: converts alert_above too */
        w->temps[d] = w->temps[d] * 9 / 5 + 32;
}

static int hot_days(const struct week *w)
{
    int hot = 0;
    for (int d = 0; d < DAYS; d++)
        if (w->temps[d] > w->alert_above)
            hot++;
    return hot;
}

int main(void)
{
    struct week w = { { 21, 24, 33, 35, 28, 22, 19 }, 86 };

    to_fahrenheit(&w);
    int hot = hot_days(&w);
    printf("hot days: %d (alert above %dF)\n", hot, w.alert_above);
    return 0;
}
