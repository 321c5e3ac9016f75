/* The dptrain command: one function per subcommand, each argv -> config -> library -> exit code
 * (the training run itself is the trainer library, train/).  cli/ is the only place that maps
 * outcomes to exit codes. */
#ifndef DPT_CLI_H
#define DPT_CLI_H

int dpt_cmd_train(int argc, char **argv);
int dpt_cmd_evaluate(int argc, char **argv);
int dpt_cmd_predict(int argc, char **argv);
int dpt_cmd_import(int argc, char **argv);
int dpt_cmd_generate(int argc, char **argv);

#endif
