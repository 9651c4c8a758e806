/* A pick-up game: two teams take turns picking players; each team's first pick is its
   captain, and captains get a 10-point bonus at the end. Red's captain never gets it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct player {
    char name[16];
    int score;
};

struct team {
    const char *colour;
    struct player *players;
    int count, capacity;
    struct player *captain;
};

static struct team red = { .colour = "red" }, blue = { .colour = "blue" };

static void pick(struct team *t, const char *name, int score)
{
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 2;
        t->players = realloc(t->players, t->capacity * sizeof *t->players);
    }
    struct player *p = &t->players[t->count++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->score = score;
    if (t->count == 1)
        t->captain = p;  /* bug: a pointer into an array that realloc may move */
}

static void show(const struct team *t)
{
    printf("%s:", t->colour);
    for (int i = 0; i < t->count; i++)
        printf(" %s %d", t->players[i].name, t->players[i].score);
    printf("\n");
}

int main(void)
{
    const char *names[] = { "ann", "bob", "cy", "dee", "eve" };
    const int scores[] = { 70, 65, 50, 55, 40 };

    for (int k = 0; k < 5; k++)
        pick(k % 2 == 0 ? &red : &blue, names[k], scores[k]);
    red.captain->score += 10;
    blue.captain->score += 10;
    show(&red);
    show(&blue);
    return 0;
}
