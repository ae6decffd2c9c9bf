"""limo_rl.train"""
