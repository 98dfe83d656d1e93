-- Run once by the postgres image when its volume is new (/docker-entrypoint-initdb.d):
-- the databases next to MLflow's. asl_log: the prediction log every replica writes
-- (asl serve --prediction-log / ASL_PREDICTION_LOG); optuna: distributed searches
-- (python -m asl.optuna_worker --storage).
CREATE DATABASE asl_log;
CREATE DATABASE optuna;
