/*
 * migrations.h — the numbered SQL migrations of each backend, compiled in
 * from schema/<backend>/NNN_name.sql by schema/embed.sh. Tables are in
 * version order (versions start at 1 and have no gap) and end with an element
 * whose version is 0.
 */
#ifndef TL_SCHEMA_MIGRATIONS_H
#define TL_SCHEMA_MIGRATIONS_H

struct tl_migration {
	int version;
	const char *name; /* "initial" for 001_initial.sql */
	const char *sql;  /* the whole file: one or more statements */
};

extern const struct tl_migration tl_migrations_postgresql[];
extern const struct tl_migration tl_migrations_sqlite[];

#endif
